using System.Diagnostics;
using Anvil.Cli;
using Anvil.Testing;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;

namespace Anvil.EndToEnd.Tests;

/// <summary>Reflection is on by default and switched off by configuration (<c>Anvil__Reflection=false</c>); health stays.</summary>
public sealed class ReflectionSwitchTests
{
    [Fact]
    public async Task Broker_ReflectionSwitchedOff_HealthServesAndReflectionIsUnimplemented()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var dll = Path.Combine(Suite.RepoRoot, "services", "broker", "bin", configuration, "net10.0", "Anvil.Broker.Service.dll");
        var work = Path.Combine(Path.GetTempPath(), "anvil-reflection-" + Guid.NewGuid().ToString("N")[..8]);
        var address = $"http://127.0.0.1:{PortPlan.Free().Broker}";
        var start = new ProcessStartInfo("dotnet") { ArgumentList = { dll }, WorkingDirectory = Path.GetDirectoryName(dll)!, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["Kestrel__Endpoints__Grpc__Url"] = address;
        start.Environment["Kestrel__Endpoints__Grpc__Protocols"] = "Http2";
        start.Environment["Broker__DataDir"] = work;
        start.Environment["Anvil__Reflection"] = "false";
        start.Environment["OTEL_SDK_DISABLED"] = "true";
        using var process = Process.Start(start)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var channel = GrpcChannel.ForAddress(address);
            var health = new Health.HealthClient(channel);
            HealthCheckResponse? reply = null;
            await TaskTimeoutExtensions.Until("the broker answers its health check", () =>
            {
                Assert.False(process.HasExited, "the broker exited while starting");
                try
                {
                    // NOT_SERVING while the broker replays its data directory (docs/broker.md §7).
                    reply = health.Check(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                    return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
                }
                catch (RpcException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(60));
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply!.Status);

            using var call = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
            // No such service: the server ends the call at once with UNIMPLEMENTED (a request written now may race it).
            var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext().DefaultTimeout());
            Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().DefaultTimeout();
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }
}
