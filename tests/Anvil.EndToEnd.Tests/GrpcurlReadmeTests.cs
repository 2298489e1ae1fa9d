using System.Text.RegularExpressions;
using Anvil.Cli;
using Anvil.Testing;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// grpcurl is not installable here, so the README's "Diagnose with grpcurl" commands are run through a reflection client
/// doing what grpcurl does: <c>list</c> and <c>describe</c> by reflection; a call resolves the method by reflection, parses
/// the <c>-d</c> JSON strictly (an unknown or misspelt field fails) into the request type, and invokes it. The README's
/// default ports map to the suite's services; its acquisition name to the one this test suite replays.
/// </summary>
[Collection(SuiteCollection.Name)]
public sealed partial class GrpcurlReadmeTests(SuiteFixture suite)
{
    private static readonly TypeRegistry Types = TypeRegistry.FromFiles(
        Anvil.Broker.V1.BrokerReflection.Descriptor, Anvil.Pipeline.V1.PipelineReflection.Descriptor, Anvil.Pipeline.V1.ProcessReflection.Descriptor,
        Grpc.Health.V1.HealthReflection.Descriptor);

    public static TheoryData<string> Commands() => new(ReadmeCommands());

    private static string[] ReadmeCommands()
    {
        var readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        var start = readme.IndexOf("## Diagnose with grpcurl", StringComparison.Ordinal);
        var end = readme.IndexOf("\n## ", start + 5, StringComparison.Ordinal);
        return [.. readme[start..(end < 0 ? readme.Length : end)].Split('\n').Where(l => l.StartsWith("grpcurl ", StringComparison.Ordinal)).Select(l => l.Trim())];
    }

    [Fact]
    public void Readme_GrpcurlSection_CoversEveryServiceAndTheAskedQuestions()
    {
        var commands = ReadmeCommands();
        foreach (var port in new[] { 5100, 5101, 5102, 5103, 5105 })
        {
            Assert.Contains(commands, c => c.Contains($"127.0.0.1:{port} ", StringComparison.Ordinal));
        }

        foreach (var needed in new[] { " list", " describe ", "Health/Check", "Consumer/ListStreams", "Consumer/ListGroups", "Consumer/GetById", "WorkerStatus/GetStatus" })
        {
            Assert.Contains(commands, c => c.Contains(needed, StringComparison.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Readme_GrpcurlCommand_WorksAgainstTheSuite(string command)
    {
        await TelemetryTests.ReplayOnceAsync(suite).DefaultTimeout(TimeSpan.FromMinutes(4));
        var (json, port, verb, argument, bearer) = Parse(command.Replace("testasapo1_1009_00002", TelemetryTests.Acquisition, StringComparison.Ordinal));
        var defaults = PortPlan.Defaults;
        var name = port == defaults.Broker ? "broker" : port == defaults.Ingest ? "ingest" : port == defaults.Stitch ? "stitch"
            : port == defaults.Integrate ? "integrate" : port == defaults.Integrate2 ? "integrate-2" : port == defaults.Merge ? "merge"
            : throw new Xunit.Sdk.XunitException($"port {port} is not a default service port");
        using var channel = GrpcChannel.ForAddress(suite.Suite.Services.Single(s => s.Name == name).Address);

        switch (verb)
        {
            case "list":
                Assert.Contains("grpc.health.v1.Health", await ListAsync(channel));
                break;
            case "describe":
                Assert.NotNull(await DescribeAsync(channel, argument!));
                break;
            default:
                // The README's $TOKEN is a read token for beamtime demo; the suite's own token stands in for it.
                var reply = await InvokeAsync(channel, verb, json ?? "{}", bearer ? suite.Suite.BrokerToken : null);
                Assert.NotEqual("{ }", reply);
                var expected = verb switch
                {
                    _ when verb.EndsWith("/ListStreams", StringComparison.Ordinal) || verb.EndsWith("/ListGroups", StringComparison.Ordinal) => TelemetryTests.Acquisition,
                    "anvil.pipeline.v1.WorkerStatus/GetStatus" => "settingsJson",
                    "anvil.pipeline.v1.Ingest/GetStatus" => "chunksAnnounced",
                    "anvil.pipeline.v1.Control/ListAcquisitions" => TelemetryTests.Acquisition,
                    "anvil.pipeline.v1.Control/GetPauseState" => "message",
                    "anvil.pipeline.v1.Control/Browse" => "dataRoot",
                    "grpc.health.v1.Health/Check" => "SERVING",
                    "anvil.pipeline.v1.ProcessStatus/GetStatus" => "\"service\": \"anvil-stitch\"",
                    _ => "\"id\"",
                };
                Assert.Contains(expected, reply, StringComparison.Ordinal);

                break;
        }
    }

    private static (string? Json, int Port, string Verb, string? Argument, bool Bearer) Parse(string command)
    {
        var match = CommandPattern().Match(command);
        Assert.True(match.Success, $"not a grpcurl command this test understands: {command}");
        return (match.Groups["json"].Success ? match.Groups["json"].Value : null, int.Parse(match.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture),
            match.Groups["verb"].Value, match.Groups["arg"].Success ? match.Groups["arg"].Value : null, match.Groups["bearer"].Success);
    }

    private static async Task<string[]> ListAsync(GrpcChannel channel)
    {
        using var call = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }).DefaultTimeout();
        await call.RequestStream.CompleteAsync().DefaultTimeout();
        Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout());
        return [.. call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name)];
    }

    // The file descriptors reflection returns for a symbol (service, method as Service.Method, or message).
    private static async Task<FileDescriptorProto[]> DescribeAsync(GrpcChannel channel, string symbol)
    {
        using var call = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = symbol }).DefaultTimeout();
        await call.RequestStream.CompleteAsync().DefaultTimeout();
        Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout());
        var reply = call.ResponseStream.Current;
        Assert.True(reply.MessageResponseCase == ServerReflectionResponse.MessageResponseOneofCase.FileDescriptorResponse,
            $"reflection does not know {symbol}: {reply.ErrorResponse?.ErrorMessage}");
        return [.. reply.FileDescriptorResponse.FileDescriptorProto.Select(FileDescriptorProto.Parser.ParseFrom)];
    }

    private static async Task<string> InvokeAsync(GrpcChannel channel, string fullMethod, string json, string? token)
    {
        var service = fullMethod[..fullMethod.IndexOf('/', StringComparison.Ordinal)];
        var methodName = fullMethod[(service.Length + 1)..];
        var files = await DescribeAsync(channel, service);
        var method = files.SelectMany(f => f.Service.Where(s => $"{f.Package}.{s.Name}" == service)).Single().Method.Single(m => m.Name == methodName);
        Assert.False(method.ClientStreaming || method.ServerStreaming, $"{fullMethod} is not unary");
        var input = Types.Find(method.InputType.TrimStart('.')) ?? throw new Xunit.Sdk.XunitException($"unknown type {method.InputType}");
        var output = Types.Find(method.OutputType.TrimStart('.')) ?? throw new Xunit.Sdk.XunitException($"unknown type {method.OutputType}");
        var request = JsonParser.Default.Parse(json, input);
        var call = new Method<IMessage, IMessage>(MethodType.Unary, service, methodName,
            Marshallers.Create<IMessage>(m => m.ToByteArray(), input.Parser.ParseFrom),
            Marshallers.Create<IMessage>(m => m.ToByteArray(), output.Parser.ParseFrom));
        var reply = await channel.CreateCallInvoker().AsyncUnaryCall(call, null, new CallOptions(token is null ? null : new Metadata { { "authorization", "Bearer " + token } }, DateTime.UtcNow.AddSeconds(20)), request).ResponseAsync.DefaultTimeout();
        return new JsonFormatter(JsonFormatter.Settings.Default.WithFormatDefaultValues(false)).Format(reply);
    }

    [GeneratedRegex(@"^grpcurl -plaintext (?<bearer>-H ""authorization: Bearer \$TOKEN"" )?(?:-d '(?<json>[^']*)' )?127\.0\.0\.1:(?<port>\d+) (?<verb>list|describe|[\w.]+/\w+)(?: (?<arg>[\w.]+))?$")]
    private static partial Regex CommandPattern();
}
