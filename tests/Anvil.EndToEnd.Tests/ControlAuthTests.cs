using Anvil.Broker.Auth;
using Anvil.Cli;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Core;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// Issue 15, defect 4: Control changes need the broker's token model when the suite is not on loopback only. A real suite
/// whose ingest runs as it does beyond loopback (<c>Control:Auth:Enabled=true</c>, which a non-loopback bind turns on; all
/// traffic here stays on 127.0.0.1) refuses changes without a valid token of access <c>control</c> for its beamtime,
/// takes them with one, and still answers reads without one.
/// </summary>
public sealed class ControlAuthTests : IAsyncLifetime
{
    private readonly string workDir = Directory.CreateTempSubdirectory("anvil-controlauth-").FullName;
    private Suite suite = null!;
    private GrpcChannel channel = null!;

    private Control.ControlClient Control => new(channel);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(workDir, "data"));
        suite = await Suite.StartAsync(new SuiteOptions
        {
            WorkDir = workDir,
            Ports = PortPlan.Free(),
            Environment = new Dictionary<string, string> { ["Control__Auth__Enabled"] = "true" },
            Pipeline = new Dictionary<string, string>
            {
                ["DataRoot"] = Path.Combine(workDir, "data"),
                ["OutputDir"] = Path.Combine(workDir, "out"),
                ["Poni"] = Path.Combine(TestPaths.LambdaFixtures, "L2.poni"),
                ["Npt"] = "1000",
            },
        }, TimeSpan.FromSeconds(90), CancellationToken.None);
        channel = GrpcChannel.ForAddress(suite.IngestAddress);
    }

    public async Task DisposeAsync()
    {
        channel?.Dispose();
        if (suite is not null)
        {
            await suite.DisposeAsync();
        }

        Directory.Delete(workDir, recursive: true);
    }

    [Fact]
    public async Task Change_WithoutOrWithBadToken_RefusedSayingWhatToDo_ValidControlTokenAccepted_ReadsOpen()
    {
        var keys = SigningKeys.Parse(await File.ReadAllTextAsync(suite.BrokerSecretFile).DefaultTimeout());
        var change = new UpdateSettingsRequest { Npt = 1200 };

        // No token.
        var none = await Refused(StatusCode.Unauthenticated, null);
        Assert.Contains("UpdateSettings changes the run", none.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("anvil broker token --beamtime demo --access control", none.Status.Detail, StringComparison.Ordinal);

        // Expired, forged (another secret), another beamtime's, and one without the control access.
        var expired = await Refused(StatusCode.Unauthenticated, new BrokerTokens(keys, time: new HourAgo()).Mint("demo", BrokerAccess.Control, TimeSpan.FromMinutes(1)));
        Assert.Contains("expired", expired.Status.Detail, StringComparison.Ordinal);
        var forged = await Refused(StatusCode.Unauthenticated, new BrokerTokens(SigningKeys.Parse(SigningKeys.NewSecret())).Mint("demo", BrokerAccess.Control));
        Assert.Contains("unknown key", forged.Status.Detail, StringComparison.Ordinal);
        var otherBeamtime = await Refused(StatusCode.PermissionDenied, new BrokerTokens(keys).Mint("other", BrokerAccess.Control));
        Assert.Contains("another beamtime", otherBeamtime.Status.Detail, StringComparison.Ordinal);
        var readWrite = await Refused(StatusCode.PermissionDenied, new BrokerTokens(keys).Mint("demo", BrokerAccess.Read | BrokerAccess.Write));
        Assert.Contains("access control", readWrite.Status.Detail, StringComparison.Ordinal);

        // Nothing was changed by the refused calls; reads need no token.
        var before = await Control.GetSettingsAsync(new GetSettingsRequest()).ResponseAsync.DefaultTimeout();
        Assert.NotEqual(1200u, before.Npt);
        await Control.ListAcquisitionsAsync(new ListAcquisitionsRequest()).ResponseAsync.DefaultTimeout();

        // A valid control token: accepted.
        var token = new BrokerTokens(keys).Mint("demo", BrokerAccess.Control, TimeSpan.FromMinutes(10));
        var changed = await Control.UpdateSettingsAsync(change, Bearer(token)).ResponseAsync.DefaultTimeout();
        Assert.Equal(1200u, changed.Npt);
        Assert.True(changed.Version > before.Version);

        // Pause and resume likewise; the CLI sends --token (a file, as the suite passes it) and is refused without it.
        var pause = await Assert.ThrowsAsync<RpcException>(() => Control.PauseAsync(new PauseRequest()).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.Unauthenticated, pause.StatusCode);
        var tokenFile = Path.Combine(workDir, "control.token");
        await File.WriteAllTextAsync(tokenFile, token + "\n").DefaultTimeout();
        using var output = new StringWriter();
        using var errors = new StringWriter();
        Assert.Equal(1, await OperatorCommands.RunAsync("pause", ["--ingest", suite.IngestAddress], output, errors, CancellationToken.None).DefaultTimeout());
        Assert.Contains("anvil pause: Pause changes the run", errors.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, await OperatorCommands.RunAsync("pause", ["--ingest", suite.IngestAddress, "--token", tokenFile], output, errors, CancellationToken.None).DefaultTimeout());
        Assert.True((await Control.GetPauseStateAsync(new PauseRequest()).ResponseAsync.DefaultTimeout()).Paused);
        Assert.Equal(0, await OperatorCommands.RunAsync("resume", ["--ingest", suite.IngestAddress, "--token", tokenFile], output, errors, CancellationToken.None).DefaultTimeout());
        Assert.False((await Control.GetPauseStateAsync(new PauseRequest()).ResponseAsync.DefaultTimeout()).Paused);

        async Task<RpcException> Refused(StatusCode code, string? bearer)
        {
            var ex = await Assert.ThrowsAsync<RpcException>(() => Control.UpdateSettingsAsync(change, Bearer(bearer)).ResponseAsync.DefaultTimeout());
            Assert.Equal(code, ex.StatusCode);
            Assert.Contains("token of access 'control' for beamtime demo", ex.Status.Detail, StringComparison.Ordinal);
            return ex;
        }
    }

    private static Metadata Bearer(string? token) => token is null ? [] : new Metadata { { "authorization", "Bearer " + token } };

    // Tokens minted an hour ago with a minute to live: expired now.
    private sealed class HourAgo : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.UtcNow.AddHours(-1);
    }
}
