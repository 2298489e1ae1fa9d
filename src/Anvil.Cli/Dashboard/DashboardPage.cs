namespace Anvil.Cli.Dashboard;

/// <summary>The dashboard's one page: a table refreshed every second from /api/status, and a log viewer.</summary>
internal static class DashboardPage
{
    public const string Html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Anvil suite</title>
        <style>
          body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
          table { border-collapse: collapse; margin-bottom: 1em; } td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }
          td:first-child, th:first-child { text-align: left; } .serving { color: #080; } .down, .not_serving { color: #c00; font-weight: bold; }
          pre { background: #f6f6f6; padding: 8px; max-height: 28em; overflow: auto; font-size: 12px; }
        </style></head>
        <body>
        <h1>Anvil suite</h1>
        <p id="time">loading…</p>
        <table id="services"><thead><tr><th>service</th><th>address</th><th>state</th><th>pid</th><th>uptime s</th><th>CPU %</th><th>CPU s</th>
          <th>memory MB</th><th>restarts</th><th>last exit</th><th>handled</th><th>acquisitions</th><th>log</th></tr></thead><tbody></tbody></table>
        <h2>Settings in force</h2><pre id="settings"></pre>
        <h2>Results</h2><table id="results"><thead><tr><th>file</th><th>bytes</th><th>written (UTC)</th></tr></thead><tbody></tbody></table>
        <h2>Log <span id="logname"></span></h2><pre id="log">choose a service's log above</pre>
        <script>
          let shown = null;
          const cell = v => (v === null || v === undefined) ? "" : (typeof v === "number" ? (Number.isInteger(v) ? v : v.toFixed(1)) : v);
          async function refresh() {
            try {
              const s = await (await fetch("/api/status")).json();
              document.getElementById("time").textContent = "as of " + s.time;
              document.querySelector("#services tbody").innerHTML = s.services.map(x =>
                `<tr><td>${x.name}</td><td>${x.address}</td><td class="${x.state}">${x.state}</td><td>${cell(x.pid)}</td><td>${cell(x.uptime_seconds)}</td>` +
                `<td>${cell(x.cpu_percent)}</td><td>${cell(x.cpu_seconds)}</td><td>${cell(x.memory_mb)}</td><td>${x.restarts}</td><td>${cell(x.last_exit_code)}</td>` +
                `<td>${cell(x.handled)}</td><td>${cell(x.active_acquisitions)}</td><td><a href="#" onclick="shown='${x.name}';return false">log</a></td></tr>`).join("");
              document.getElementById("settings").textContent = s.settings;
              document.querySelector("#results tbody").innerHTML = s.results.map(r => `<tr><td>${r.name}</td><td>${r.bytes}</td><td>${r.modified_utc}</td></tr>`).join("");
              if (shown) {
                document.getElementById("logname").textContent = shown;
                document.getElementById("log").textContent = await (await fetch("/api/logs/" + shown + "?lines=200")).text();
              }
            } catch (e) { document.getElementById("time").textContent = "suite not reachable: " + e; }
          }
          refresh(); setInterval(refresh, 1000);
        </script>
        </body></html>
        """;
}
