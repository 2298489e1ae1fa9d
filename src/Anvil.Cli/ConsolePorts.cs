using System.Net;
using System.Net.Sockets;

namespace Anvil.Cli;

/// <summary>
/// Where the suite's results console listens (services/console): its gRPC health endpoint (h2c, what the suite's
/// health wait and supervisor call) and its page (HTTP/1.1). <paramref name="Bind"/> is the page's address:
/// 127.0.0.1 by default; 0.0.0.0 (or a NIC's address) lets other PCs open it, and then the console requires accounts:
/// <paramref name="UsersFile"/> (`anvil console-user` entries; services/console README "Access").
/// </summary>
public sealed record ConsolePorts(int Grpc, int Http, string Bind = "127.0.0.1", string? UsersFile = null)
{
    /// <summary>The defaults: deploy/topology.json's console (gRPC health port, page port), as its appsettings.json says too.</summary>
    public static ConsolePorts Defaults { get; } = new(Suite.Topology["console"].Port, Suite.Topology["console"].HttpPort
        ?? throw new InvalidDataException("deploy/topology.json: the console needs an httpPort (its page)."));

    /// <summary>Free loopback ports (demo, tests).</summary>
    public static ConsolePorts Free() => new(FreePort(), FreePort());

    /// <summary>The page's address as this machine opens it.</summary>
    public string Url => $"http://{(Bind is "0.0.0.0" or "[::]" or "*" or "localhost" ? "127.0.0.1" : Bind)}:{Http}/";

    /// <summary>The environment that puts the page's HTTP/1.1 endpoint on <see cref="Bind"/>:<see cref="Http"/>.</summary>
    public Dictionary<string, string> Environment()
    {
        var environment = new Dictionary<string, string>
        {
            ["Kestrel__Endpoints__Http__Url"] = $"http://{(Bind.Contains(':', StringComparison.Ordinal) && !Bind.StartsWith('[') ? $"[{Bind}]" : Bind)}:{Http}",
            ["Kestrel__Endpoints__Http__Protocols"] = "Http1",
        };
        if (UsersFile is not null)
        {
            environment["Console__UsersFile"] = UsersFile;
        }

        return environment;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
