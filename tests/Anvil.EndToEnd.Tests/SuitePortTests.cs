using System.Net;
using System.Net.Sockets;
using Anvil.Cli;
using Anvil.Testing;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// A free port is free when chosen, not always when a service binds it: another process (or one of the many outgoing
/// connections of a test run, which get their local ports from the same range) may take it in between. A suite on a plan
/// of free ports then chooses them again instead of failing its test with "address already in use".
/// </summary>
public sealed class SuitePortTests
{
    [Fact]
    public async Task StartAsync_FreePortTakenBeforeTheBrokerBindsIt_ChoosesThePortsAgainAndStarts()
    {
        var workDir = Directory.CreateTempSubdirectory("anvil-ports-").FullName;
        using var taken = Taken(out var takenPort);
        var free = PortPlan.Free();
        var plan = free with { Ports = new Dictionary<string, int>(free.Ports) { ["broker"] = takenPort } };
        try
        {
            await using var suite = await Suite.StartAsync(Options(workDir, plan), TimeSpan.FromSeconds(90), CancellationToken.None)
                .DefaultTimeout(TimeSpan.FromMinutes(3));

            Assert.NotEqual($"http://127.0.0.1:{takenPort}", suite.BrokerAddress);
            using var channel = GrpcChannel.ForAddress(suite.BrokerAddress);
            var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest()).ResponseAsync.DefaultTimeout();
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        }
        finally
        {
            Directory.Delete(workDir, recursive: true);
        }
    }

    [Fact]
    public async Task StartAsync_FixedPortTaken_FailsNamingTheTakenAddress()
    {
        var workDir = Directory.CreateTempSubdirectory("anvil-ports-").FullName;
        using var taken = Taken(out var takenPort);

        // A plan someone fixed (no Replan): its ports are what the operator asked for, so a taken one fails, saying which.
        var plan = new PortPlan(new Dictionary<string, int>(PortPlan.Free().Ports) { ["broker"] = takenPort });
        try
        {
            var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => Suite.StartAsync(Options(workDir, plan), TimeSpan.FromSeconds(90),
                CancellationToken.None).DefaultTimeout(TimeSpan.FromMinutes(3)));
            Assert.Contains($"127.0.0.1:{takenPort}", failed.Message, StringComparison.Ordinal);
            Assert.Contains("address already in use", failed.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(workDir, recursive: true);
        }
    }

    // A loopback port held by this test: taken for whoever binds it next.
    private static TcpListener Taken(out int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
        return listener;
    }

    private static SuiteOptions Options(string workDir, PortPlan ports) => new()
    {
        WorkDir = workDir,
        Ports = ports,
        Pipeline = new Dictionary<string, string> { ["DataRoot"] = Path.Combine(workDir, "data"), ["OutputDir"] = Path.Combine(workDir, "out") },
    };
}
