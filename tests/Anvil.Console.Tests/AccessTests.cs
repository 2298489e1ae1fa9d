using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;
using Anvil.Cli;
using Anvil.Testing;
using Anvil.Viewer.Access;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;

namespace Anvil.Console.Tests;

/// <summary>
/// The console with accounts (issue 13, item 6), in this process on 127.0.0.1 port 0, operating the real suite's ingest:
/// an operator changes settings and pauses, a viewer cannot (the API refuses it, the page shows no active control), no
/// session means 401 or the login page, a change without this session's CSRF token is refused, the audit log names who
/// changed what, failed logins say so and lock out, a cookie is worthless after logout, HTTPS with a certificate made
/// here marks the cookie Secure, and a console bound beyond loopback without accounts refuses to start.
/// </summary>
[Collection(OperatorCollection.Name)]
public sealed partial class AccessTests(OperatorSuiteFixture suite, BrowserFixture browser) : IAsyncLifetime
{
    private const string Acquisition = "acc_1009_00001";
    private const string OperatorPassword = "olga-operates-42";
    private const string ViewerPassword = "viktor-views-42";

    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("anvil-console-access-");
    private readonly List<WebApplication> apps = [];
    private string url = string.Empty;

    private string AuditFile => Path.Combine(work.FullName, "audit", "console-audit.jsonl");

    public async Task InitializeAsync()
    {
        url = await StartAsync(Users);
        if (!Directory.Exists(Path.Combine(suite.DataRoot, Acquisition)))
        {
            await suite.AnnounceAsync(Acquisition, parts: 1);
        }
    }

    // Low iteration counts keep the tests quick; the format and the code path are the production ones.
    private static Dictionary<string, string?> Users { get; } = new()
    {
        ["Console:Users:0:Name"] = "olga",
        ["Console:Users:0:Role"] = "operator",
        ["Console:Users:0:PasswordHash"] = ConsolePassword.Hash(OperatorPassword, 10_000),
        ["Console:Users:1:Name"] = "viktor",
        ["Console:Users:1:Role"] = "viewer",
        ["Console:Users:1:PasswordHash"] = ConsolePassword.Hash(ViewerPassword, 10_000),
        ["Console:Users:2:Name"] = "lena",
        ["Console:Users:2:Role"] = "operator",
        ["Console:Users:2:PasswordHash"] = ConsolePassword.Hash("lena-locks-out-42", 10_000),
    };

    public async Task DisposeAsync()
    {
        foreach (var app in apps)
        {
            await app.StopAsync().DefaultTimeout();
            await app.DisposeAsync();
        }

        work.Delete(recursive: true);
    }

    [Fact]
    public async Task Operator_ChangesSettingsAndPauses_AndTheAuditLogRecordsWhoChangedWhat()
    {
        using var olga = await LoginAsync("olga", OperatorPassword);
        var me = await olga.Http.GetFromJsonAsync<JsonElement>(url + "/api/access/me").DefaultTimeout();
        Assert.Equal("operator", me.GetProperty("role").GetString());
        Assert.True(me.GetProperty("canOperate").GetBoolean());

        var before = await olga.Http.GetFromJsonAsync<JsonElement>(url + $"/api/operator/settings?acquisition={Acquisition}").DefaultTimeout();
        var npt = before.GetProperty("npt").GetInt32() == 1234 ? 1235 : 1234;
        var put = await olga.SendAsync(HttpMethod.Put, "/api/operator/settings", new { acquisition = Acquisition, npt });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(npt, (await ReadJsonAsync(put)).GetProperty("npt").GetInt32());

        var pause = await olga.SendAsync(HttpMethod.Post, "/api/operator/pause", new { acquisition = Acquisition });
        Assert.Equal(HttpStatusCode.OK, pause.StatusCode);
        Assert.True((await ReadJsonAsync(pause)).GetProperty("acquisitionPaused").GetBoolean());
        var resume = await olga.SendAsync(HttpMethod.Post, "/api/operator/resume", new { acquisition = Acquisition });
        Assert.False((await ReadJsonAsync(resume)).GetProperty("acquisitionPaused").GetBoolean());

        // The file: one JSON line per action, naming the user, the acquisition and the field that changed.
        var lines = (await File.ReadAllLinesAsync(AuditFile).DefaultTimeout()).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var settings = lines.Last(l => l.GetProperty("action").GetString() == "settings");
        Assert.Equal("olga", settings.GetProperty("user").GetString());
        Assert.Equal("operator", settings.GetProperty("role").GetString());
        Assert.Equal("127.0.0.1", settings.GetProperty("remote").GetString());
        Assert.Equal(Acquisition, settings.GetProperty("acquisition").GetString());
        Assert.Equal(200, settings.GetProperty("status").GetInt32());
        var change = settings.GetProperty("changes").GetProperty("npt");
        Assert.Equal(before.GetProperty("npt").GetInt32(), change.GetProperty("from").GetInt32());
        Assert.Equal(npt, change.GetProperty("to").GetInt32());
        Assert.Contains(lines, l => l.GetProperty("action").GetString() == "pause" && l.GetProperty("user").GetString() == "olga");
        Assert.Contains(lines, l => l.GetProperty("action").GetString() == "login" && l.GetProperty("user").GetString() == "olga");

        // The read endpoint serves the same, newest first.
        var audit = await olga.Http.GetFromJsonAsync<JsonElement>(url + "/api/access/audit?limit=3").DefaultTimeout();
        var newest = audit.GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal(["resume", "pause", "settings"], newest.Select(e => e.GetProperty("action").GetString()));
    }

    [Fact]
    public async Task Viewer_CannotChangeAnything_TheApiRefusesWith403_AndNothingChanges()
    {
        using var viktor = await LoginAsync("viktor", ViewerPassword);
        var me = await viktor.Http.GetFromJsonAsync<JsonElement>(url + "/api/access/me").DefaultTimeout();
        Assert.False(me.GetProperty("canOperate").GetBoolean());
        var status = await viktor.Http.GetFromJsonAsync<JsonElement>(url + "/api/operator/status").DefaultTimeout();
        Assert.False(status.GetProperty("canOperate").GetBoolean());

        var before = await viktor.Http.GetStringAsync(url + $"/api/operator/settings?acquisition={Acquisition}").DefaultTimeout();
        var attempts = new[]
        {
            await viktor.SendAsync(HttpMethod.Put, "/api/operator/settings", new { acquisition = Acquisition, npt = 999 }),
            await viktor.SendAsync(HttpMethod.Post, "/api/operator/pause", new { acquisition = Acquisition }),
            await viktor.SendAsync(HttpMethod.Post, "/api/operator/pause", null),
            await viktor.SendAsync(HttpMethod.Post, $"/api/operator/acquisitions/{Acquisition}/stop", null),
            await viktor.SendAsync(HttpMethod.Post, "/api/operator/config", new { path = "config/experiment.json" }),
        };
        foreach (var response in attempts)
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("Viewers cannot operate", (await ReadJsonAsync(response)).GetProperty("title").GetString());
        }

        Assert.Equal(before, await viktor.Http.GetStringAsync(url + $"/api/operator/settings?acquisition={Acquisition}").DefaultTimeout());
        var acquisition = (await viktor.Http.GetFromJsonAsync<JsonElement>(url + "/api/operator/status").DefaultTimeout())
            .GetProperty("acquisitions").EnumerateArray().Single(a => a.GetProperty("name").GetString() == Acquisition);
        Assert.False(acquisition.GetProperty("paused").GetBoolean());
        Assert.False(acquisition.GetProperty("finished").GetBoolean());

        var refused = (await File.ReadAllLinesAsync(AuditFile).DefaultTimeout()).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(l => l.GetProperty("user").GetString() == "viktor" && l.GetProperty("status").GetInt32() == 403).ToList();
        Assert.Equal(5, refused.Count);
    }

    [Fact]
    public async Task NoSession_ApiIs401_PagesRedirectToTheLogin_LoginPageAndHealthStayOpen()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) };
        foreach (var path in new[] { "/api/operator/status", "/api/acquisitions", "/api/access/audit", "/openapi/v1.json" })
        {
            var response = await http.GetAsync(url + path).DefaultTimeout();
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{path}: {response.StatusCode}");
            Assert.Equal("Login required", (await ReadJsonAsync(response)).GetProperty("title").GetString());
        }

        var write = await http.PostAsJsonAsync(url + "/api/operator/pause", new { acquisition = Acquisition }).DefaultTimeout();
        Assert.Equal(HttpStatusCode.Unauthorized, write.StatusCode);

        foreach (var (path, returnUrl) in new[] { ("/", "%2F"), ("/?tab=operate", "%2F%3Ftab%3Doperate"), ("/assets/console.js", "%2Fassets%2Fconsole.js") })
        {
            var page = await http.GetAsync(url + path).DefaultTimeout();
            Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
            Assert.Equal("/login?returnUrl=" + returnUrl, page.Headers.Location?.OriginalString);
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(url + "/login").DefaultTimeout()).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(url + "/assets/console.css").DefaultTimeout()).StatusCode);
    }

    [Fact]
    public async Task Changes_WithoutOrWithAWrongCsrfToken_AreRefused_AndNothingChanges()
    {
        using var olga = await LoginAsync("olga", OperatorPassword);
        using var viktor = await LoginAsync("viktor", ViewerPassword);
        var before = await olga.Http.GetStringAsync(url + $"/api/operator/settings?acquisition={Acquisition}").DefaultTimeout();

        var tokens = new (string What, string? Token)[]
        {
            ("no token", null),
            ("a made-up token", "CfDJ8-not-a-token"),
            ("another user's token", viktor.Csrf),
        };
        foreach (var (what, token) in tokens)
        {
            var response = await olga.SendAsync(HttpMethod.Put, "/api/operator/settings", new { acquisition = Acquisition, npt = 777 }, csrf: token ?? string.Empty);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{what}: {response.StatusCode}");
            Assert.Equal("Missing or wrong CSRF token", (await ReadJsonAsync(response)).GetProperty("title").GetString());
        }

        // A form posted by another site carries the cookie at most, never the header (and SameSite=Strict keeps the cookie home too).
        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["acquisition"] = Acquisition });
        Assert.Equal(HttpStatusCode.Forbidden, (await olga.Http.PostAsync(url + "/api/operator/pause", form).DefaultTimeout()).StatusCode);
        var logout = await olga.Http.PostAsync(url + "/logout", null).DefaultTimeout();
        Assert.Equal(HttpStatusCode.Forbidden, logout.StatusCode);

        Assert.Equal(before, await olga.Http.GetStringAsync(url + $"/api/operator/settings?acquisition={Acquisition}").DefaultTimeout());
    }

    [Fact]
    public async Task FailedLogins_SayWrongNameOrPassword_ThenLockTheNameOutFromThatAddress()
    {
        using var session = new Session(url);
        var wrong = await session.PostLoginAsync("lena", "not-her-password");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Contains("Wrong name or password.", await wrong.Content.ReadAsStringAsync().DefaultTimeout(), StringComparison.Ordinal);
        var unknown = await session.PostLoginAsync("nobody", "whatever-it-is");
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await session.Http.GetAsync(url + "/api/operator/status").DefaultTimeout()).StatusCode);

        // Three failures in a row (this console's Console:MaxFailedLogins) lock lena out from this address: even her password fails.
        await session.PostLoginAsync("lena", "still-wrong-1");
        var third = await session.PostLoginAsync("lena", "still-wrong-2");
        Assert.Contains("locked out", await third.Content.ReadAsStringAsync().DefaultTimeout(), StringComparison.Ordinal);
        var locked = await session.PostLoginAsync("lena", "lena-locks-out-42");
        Assert.Equal(HttpStatusCode.TooManyRequests, locked.StatusCode);
        Assert.Matches("Too many failed logins for &#39;lena&#39; from this address: try again in [0-9]+ s.", await locked.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Equal(HttpStatusCode.Unauthorized, (await session.Http.GetAsync(url + "/api/operator/status").DefaultTimeout()).StatusCode);

        var failed = (await File.ReadAllLinesAsync(AuditFile).DefaultTimeout()).Count(l => l.Contains("\"login-failed\"", StringComparison.Ordinal) && l.Contains("\"lena\"", StringComparison.Ordinal));
        Assert.Equal(4, failed);
    }

    [Fact]
    public async Task SessionCookie_IsHttpOnlyStrict_AndWorthlessAfterLogout()
    {
        using var olga = await LoginAsync("olga", OperatorPassword);
        var cookie = olga.Cookies.GetCookies(new Uri(url)).Single(c => c.Name == "anvil-console-session");
        Assert.True(cookie.HttpOnly);
        Assert.False(cookie.Secure); // plain HTTP here; the HTTPS test checks Secure
        Assert.Contains("samesite=strict", olga.SetCookies.Single(c => c.StartsWith("anvil-console-session=", StringComparison.Ordinal)), StringComparison.OrdinalIgnoreCase);

        // A copy of the cookie (another client, as a thief would replay it) works while the session lives…
        using var thief = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) };
        Task<HttpResponseMessage> Replay()
        {
            var request = new HttpRequestMessage(HttpMethod.Get, url + "/api/operator/status");
            request.Headers.Add("Cookie", $"{cookie.Name}={cookie.Value}");
            return thief.SendAsync(request).DefaultTimeout();
        }

        Assert.Equal(HttpStatusCode.OK, (await Replay()).StatusCode);

        // …and not after olga logs out.
        var logout = await olga.SendAsync(HttpMethod.Post, "/logout", null);
        Assert.Equal(HttpStatusCode.OK, logout.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Replay()).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await olga.Http.GetAsync(url + "/api/operator/status").DefaultTimeout()).StatusCode);
    }

    [Fact]
    public async Task ConsoleUserCommand_PrintsAnEntry_ThatAUsersFileSignsInWith()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var line = new CommandLine(["maria", "--role", "operator"], new HashSet<string>());
        Assert.Equal(0, ConsoleUserCommand.Run(line, new StringReader("maria-pass-1234\n"), output, error));
        var entry = JsonDocument.Parse(output.ToString()).RootElement;
        Assert.Equal("maria", entry.GetProperty("name").GetString());
        Assert.StartsWith("pbkdf2-sha256:600000:", entry.GetProperty("passwordHash").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("maria-pass-1234", output.ToString(), StringComparison.Ordinal);

        // A short password prints nothing.
        using var none = new StringWriter();
        Assert.Equal(1, ConsoleUserCommand.Run(new CommandLine(["x", "--role", "viewer"], new HashSet<string>()), new StringReader("short\n"), none, error));
        Assert.Empty(none.ToString());

        var file = Path.Combine(work.FullName, "users.jsonl");
        await File.WriteAllTextAsync(file, "# console accounts\n" + output).DefaultTimeout();
        var other = await StartAsync(new Dictionary<string, string?> { ["Console:UsersFile"] = file, ["Console:AuditLog"] = Path.Combine(work.FullName, "other-audit.jsonl") });
        using var maria = await LoginAsync("maria", "maria-pass-1234", other);
        var me = await maria.Http.GetFromJsonAsync<JsonElement>(other + "/api/access/me").DefaultTimeout();
        Assert.Equal("operator", me.GetProperty("role").GetString());
    }

    [Fact]
    public async Task NonLoopbackBind_WithoutAccounts_RefusesToStartSayingHowToAddThem()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Http:Url"] = "http://0.0.0.0:0",
            ["Console:AuditLog"] = Path.Combine(work.FullName, "refused-audit.jsonl"),
        }));
        Assert.Contains("has no accounts", ex.Message, StringComparison.Ordinal);
        Assert.Contains("./anvil console-user NAME --role operator|viewer", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Console:UsersFile", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Https_WithAKestrelCertificate_SignsInWithASecureCookie()
    {
        // A self-signed certificate for 127.0.0.1, made here and given to Kestrel as a PFX file (Kestrel:Endpoints:…:Certificate).
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var pfx = Path.Combine(work.FullName, "console.pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "pfx-pass")).DefaultTimeout();

        var https = await StartAsync(new Dictionary<string, string?>(Users)
        {
            ["Kestrel:Endpoints:Http:Url"] = "https://127.0.0.1:0",
            ["Kestrel:Endpoints:Http:Certificate:Path"] = pfx,
            ["Kestrel:Endpoints:Http:Certificate:Password"] = "pfx-pass",
            ["Console:AuditLog"] = Path.Combine(work.FullName, "https-audit.jsonl"),
        });
        Assert.StartsWith("https://127.0.0.1:", https, StringComparison.Ordinal);

        // The client trusts exactly this certificate (pinned by thumbprint), nothing else.
        var thumbprint = certificate.Thumbprint;
        using var olga = await LoginAsync("olga", OperatorPassword, https, (_, cert, _, _) => cert?.Thumbprint == thumbprint);
        var cookie = olga.Cookies.GetCookies(new Uri(https)).Single(c => c.Name == "anvil-console-session");
        Assert.True(cookie.Secure);
        Assert.True(cookie.HttpOnly);
        var status = await olga.Http.GetAsync(https + "/api/operator/status").DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        Assert.True((await ReadJsonAsync(status)).GetProperty("canOperate").GetBoolean());
    }

    [Fact]
    public async Task Page_LoginAsViewer_NoActiveControls_LoginAsOperator_Pauses_Screenshots()
    {
        var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } }).DefaultTimeout();
        var page = await context.NewPageAsync().DefaultTimeout();
        await page.GotoAsync(url + "/?tab=operate").DefaultTimeout();
        Assert.StartsWith(url + "/login?returnUrl=", page.Url, StringComparison.Ordinal);

        // A wrong password: the message on the login page.
        await page.FillAsync("#login-name", "viktor").DefaultTimeout();
        await page.FillAsync("#login-password", "wrong-password").DefaultTimeout();
        await page.ClickAsync("#login-submit").DefaultTimeout();
        await page.Locator("#login-message").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible }).DefaultTimeout();
        Assert.Equal("Wrong name or password.", await page.Locator("#login-message").InnerTextAsync().DefaultTimeout());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "login.png") }).DefaultTimeout();

        // The viewer: the Operate tab with every control disabled, the badge, the audit panel.
        await page.FillAsync("#login-password", ViewerPassword).DefaultTimeout();
        await page.ClickAsync("#login-submit").DefaultTimeout();
        await WaitOperateAsync(page);
        Assert.Equal("viktor", await page.Locator("#user strong").InnerTextAsync().DefaultTimeout());
        Assert.True(await page.Locator("#op-view-only").IsVisibleAsync().DefaultTimeout());
        Assert.Contains("viktor is a viewer", await page.Locator("#op-view-only").InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);
        var row = page.Locator($"#op-table tbody tr[data-name={Acquisition}]");
        await row.WaitForAsync().DefaultTimeout();
        Assert.True(await page.Locator("#op-pause-all").IsDisabledAsync().DefaultTimeout());
        Assert.True(await page.Locator("#op-resume-all").IsDisabledAsync().DefaultTimeout());
        Assert.True(await page.Locator("#op-apply").IsDisabledAsync().DefaultTimeout());
        var rowButtons = row.Locator("button");
        Assert.True(await rowButtons.CountAsync().DefaultTimeout() > 0);
        for (var i = 0; i < await rowButtons.CountAsync().DefaultTimeout(); i++)
        {
            Assert.True(await rowButtons.Nth(i).IsDisabledAsync().DefaultTimeout());
        }

        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "operate-viewer.png"), FullPage = true }).DefaultTimeout();

        // Log out: back at the login page, and the API no longer answers this browser.
        var logoutReply = page.WaitForResponseAsync(r => r.Url.EndsWith("/logout", StringComparison.Ordinal));
        await page.ClickAsync("#logout").DefaultTimeout();
        Assert.Equal(200, (await logoutReply.DefaultTimeout()).Status);
        await TaskTimeoutExtensions.UntilAsync("back at the login page", () => Task.FromResult(page.Url.EndsWith("/login", StringComparison.Ordinal)));
        var afterLogout = await page.APIRequest.GetAsync(url + "/api/operator/status").DefaultTimeout();
        Assert.Equal(401, afterLogout.Status);

        // The operator: the row's Pause pauses the acquisition (through the CSRF header the page adds), the audit panel shows it.
        await page.FillAsync("#login-name", "olga").DefaultTimeout();
        await page.FillAsync("#login-password", OperatorPassword).DefaultTimeout();
        await page.ClickAsync("#login-submit").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("signed in, away from the login page", () => Task.FromResult(!page.Url.Contains("/login", StringComparison.Ordinal)));
        await page.GotoAsync(url + "/?tab=operate").DefaultTimeout();
        await WaitOperateAsync(page);
        Assert.Equal("operator", await page.Locator("#user .role").InnerTextAsync().DefaultTimeout());
        Assert.False(await page.Locator("#op-view-only").IsVisibleAsync().DefaultTimeout());
        row = page.Locator($"#op-table tbody tr[data-name={Acquisition}]");
        await row.Locator("button[data-op=pause]").ClickAsync().DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("the row says paused", async () => (await row.Locator("td").Nth(8).InnerTextAsync().DefaultTimeout()) == "yes");
        await page.EvaluateAsync("window.anvilAccess.refreshAudit()").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("the audit panel shows olga's pause", async () =>
            (await page.Locator("#audit-table tbody tr").First.InnerTextAsync().DefaultTimeout()).Contains("olga", StringComparison.Ordinal));
        Assert.Contains("pause", await page.Locator("#audit-table tbody tr").First.InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "operate-operator.png"), FullPage = true }).DefaultTimeout();
        await row.Locator("button[data-op=resume]").ClickAsync().DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("the row says not paused", async () => (await row.Locator("td").Nth(8).InnerTextAsync().DefaultTimeout()) == "no");
        await context.CloseAsync().DefaultTimeout();
    }

    // ------------------------------------------------------------------ helpers

    private static async Task WaitOperateAsync(IPage page) =>
        await TaskTimeoutExtensions.UntilAsync("the operate tab refreshed its status", async () =>
            await page.EvaluateAsync<bool>("!!(window.anvilOperator && window.anvilOperator.refreshes > 0 && window.anvilAccess && window.anvilAccess.me)").DefaultTimeout(), TimeSpan.FromSeconds(90));

    private async Task<string> StartAsync(Dictionary<string, string?> settings)
    {
        var config = new Dictionary<string, string?>
        {
            ["Console:Ingest"] = suite.Suite.IngestAddress,
            ["Console:AuditLog"] = AuditFile,
            ["Console:MaxFailedLogins"] = "3",
            ["Console:FailedLoginDelay"] = "00:00:00.100",
            ["Pipeline:BrokerToken"] = suite.Suite.BrokerToken,
        };
        foreach (var (k, v) in settings)
        {
            config[k] = v;
        }

        var (app, address) = await Hosts.StartConsoleAsync(Path.Combine(suite.WorkDir, "out"), suite.DataRoot, suite.Suite.BrokerAddress, config);
        apps.Add(app);
        return address;
    }

    private Task<Session> LoginAsync(string name, string password, string? at = null, Func<HttpRequestMessage, X509Certificate2?, X509Chain?, System.Net.Security.SslPolicyErrors, bool>? trust = null) =>
        Session.LoginAsync(at ?? url, name, password, trust);

    private static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync().DefaultTimeout()).RootElement;

    /// <summary>A browser-like client: a cookie jar, the login form's token, and this session's CSRF token for changes.</summary>
    private sealed partial class Session : IDisposable
    {
        private readonly string url;

        public Session(string url, Func<HttpRequestMessage, X509Certificate2?, X509Chain?, System.Net.Security.SslPolicyErrors, bool>? trust = null)
        {
            this.url = url;
            var handler = new HttpClientHandler { CookieContainer = Cookies, AllowAutoRedirect = false };
            if (trust is not null)
            {
                handler.ServerCertificateCustomValidationCallback = trust;
            }

            Http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        }

        public CookieContainer Cookies { get; } = new();

        public HttpClient Http { get; }

        public string Csrf { get; private set; } = string.Empty;

        public List<string> SetCookies { get; } = [];

        public static async Task<Session> LoginAsync(string url, string name, string password, Func<HttpRequestMessage, X509Certificate2?, X509Chain?, System.Net.Security.SslPolicyErrors, bool>? trust)
        {
            var session = new Session(url, trust);
            var response = await session.PostLoginAsync(name, password);
            Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"login as {name}: {response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            session.SetCookies.AddRange(response.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : []);
            var me = await session.Http.GetFromJsonAsync<JsonElement>(url + "/api/access/me").DefaultTimeout();
            Assert.Equal(name, me.GetProperty("user").GetString());
            session.Csrf = me.GetProperty("csrfToken").GetString()!;
            return session;
        }

        /// <summary>GET /login for the form's token, then POST the form as a browser would.</summary>
        public async Task<HttpResponseMessage> PostLoginAsync(string name, string password)
        {
            var page = await Http.GetStringAsync(url + "/login").DefaultTimeout();
            var token = TokenField().Match(page);
            Assert.True(token.Success, "the login page has no token field");
            using var form = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["name"] = name,
                ["password"] = password,
                [token.Groups[1].Value] = WebUtility.HtmlDecode(token.Groups[2].Value),
                ["returnUrl"] = "/",
            });
            return await Http.PostAsync(url + "/login", form).DefaultTimeout();
        }

        /// <summary>A change with this session's CSRF token (or <paramref name="csrf"/>; empty = none).</summary>
        public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, object? body, string? csrf = null)
        {
            using var request = new HttpRequestMessage(method, url + path);
            if (body is not null)
            {
                request.Content = JsonContent.Create(body);
            }

            if ((csrf ?? Csrf) is { Length: > 0 } token)
            {
                request.Headers.Add("X-Anvil-CSRF", token);
            }

            return await Http.SendAsync(request).DefaultTimeout();
        }

        public void Dispose() => Http.Dispose();

        [GeneratedRegex("<input type=\"hidden\" name=\"([^\"]+)\" value=\"([^\"]+)\">")]
        private static partial Regex TokenField();
    }
}
