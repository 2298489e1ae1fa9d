using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;

namespace Anvil.EndToEnd.Tests;

[Collection(SuiteCollection.Name)]
public sealed class DiagnosticsTests(SuiteFixture suite)
{
    public static TheoryData<string, string> ServicesAndContracts => new()
    {
        { "broker", "anvil.broker.v1.Consumer" },
        { "ingest", "anvil.pipeline.v1.Ingest" },
        { "stitch", "anvil.pipeline.v1.WorkerStatus" },
        { "integrate", "anvil.pipeline.v1.WorkerStatus" },
        { "integrate-2", "anvil.pipeline.v1.WorkerStatus" },
        { "merge", "anvil.pipeline.v1.WorkerStatus" },
    };

    [Theory]
    [MemberData(nameof(ServicesAndContracts))]
    public async Task Service_HealthAndReflection_ServingAndListsItsContract(string name, string contract)
    {
        var service = suite.Suite.Services.Single(s => s.Name == name);
        using var channel = GrpcChannel.ForAddress(service.Address);

        var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest()).ResponseAsync.DefaultTimeout();
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);

        using var call = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }).DefaultTimeout();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = contract }).DefaultTimeout();
        await call.RequestStream.CompleteAsync().DefaultTimeout();
        Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout());
        var listed = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToArray();
        Assert.Contains(contract, listed);
        Assert.Contains("grpc.health.v1.Health", listed);
        Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout());
        Assert.NotEmpty(call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto);
    }

    public static TheoryData<string> ServiceNames => new() { "broker", "ingest", "stitch", "integrate", "integrate-2", "merge" };

    // What grpcurl's `list` and `describe` do, through a reflection client: every listed service resolves to a file
    // descriptor that declares it, with its methods and their request and response types (README "Diagnose with grpcurl").
    [Theory]
    [MemberData(nameof(ServiceNames))]
    public async Task Reflection_ListAndDescribe_EveryServiceResolvesWithItsMethods(string name)
    {
        var service = suite.Suite.Services.Single(s => s.Name == name);
        using var channel = GrpcChannel.ForAddress(service.Address);
        using var call = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }).DefaultTimeout();
        Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout());
        var listed = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToArray();
        Assert.Contains("grpc.health.v1.Health", listed);
        Assert.Contains("grpc.reflection.v1.ServerReflection", listed);

        foreach (var listedService in listed)
        {
            await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = listedService }).DefaultTimeout();
            Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout());
            var reply = call.ResponseStream.Current;
            Assert.Equal(ServerReflectionResponse.MessageResponseOneofCase.FileDescriptorResponse, reply.MessageResponseCase);
            var files = reply.FileDescriptorResponse.FileDescriptorProto.Select(b => Google.Protobuf.Reflection.FileDescriptorProto.Parser.ParseFrom(b)).ToArray();
            var file = files.Single(f => f.Service.Any(s => $"{f.Package}.{s.Name}" == listedService));
            var declared = file.Service.Single(s => $"{file.Package}.{s.Name}" == listedService);
            Assert.NotEmpty(declared.Method);

            // Every request and response type of the service is a message in the returned file or one it imports.
            var messages = files.SelectMany(f => f.MessageType.Select(m => $".{f.Package}.{m.Name}")).ToHashSet();
            foreach (var method in declared.Method)
            {
                foreach (var type in new[] { method.InputType, method.OutputType })
                {
                    if (!messages.Contains(type))
                    {
                        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = type.TrimStart('.') }).DefaultTimeout();
                        Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout());
                        Assert.Equal(ServerReflectionResponse.MessageResponseOneofCase.FileDescriptorResponse, call.ResponseStream.Current.MessageResponseCase);
                    }
                }
            }
        }

        await call.RequestStream.CompleteAsync().DefaultTimeout();
    }

    [Theory]
    [InlineData("/etc/passwd", "outside the data root")]
    [InlineData("../escape.nxs", "'..'")]
    [InlineData("", "path is empty")]
    public async Task AnnounceChunk_PathOutsideDataRoot_InvalidArgumentSayingWhatToFix(string path, string message)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => suite.Ingest.AnnounceChunkAsync(new AnnounceChunkRequest
        {
            Acquisition = "bad_input_00001",
            Module = 1,
            Modules = 3,
            Part = 0,
            Path = path,
        }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains(message, ex.Status.Detail, StringComparison.Ordinal);
    }

    // Checks that failed on the code before them: each request was accepted and published.
    [Theory]
    [InlineData("frames", "frames 4000000000 is more than a chunk part can hold")]
    [InlineData("relative", "is relative: give the chunk file's absolute path")]
    [InlineData("other-acquisition", "is the file of acquisition other_1009_00001 module 1 part 0")]
    [InlineData("other-module", "is the file of acquisition bad_input_00003 module 2 part 0")]
    public async Task AnnounceChunk_InputThatCannotBeRight_InvalidArgumentSayingWhatToFix(string what, string message)
    {
        var folder = Directory.CreateDirectory(Path.Combine(suite.DataRoot, "bad-announce")).FullName;
        var request = new AnnounceChunkRequest
        {
            Acquisition = "bad_input_00003",
            Module = 1,
            Modules = 3,
            Part = 0,
            Frames = what == "frames" ? 4_000_000_000 : 10,
            Path = what switch
            {
                "relative" => "bad-announce/bad_input_00003_m1_part00000.nxs",
                "other-acquisition" => Path.Combine(folder, "other_1009_00001_m1_part00000.nxs"),
                "other-module" => Path.Combine(folder, "bad_input_00003_m2_part00000.nxs"),
                _ => Path.Combine(folder, "bad_input_00003_m1_part00000.nxs"),
            },
        };

        var ex = await Assert.ThrowsAsync<RpcException>(() => suite.Ingest.AnnounceChunkAsync(request).ResponseAsync.DefaultTimeout());

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains(message, ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnnounceChunk_ModuleOutOfRange_InvalidArgument()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => suite.Ingest.AnnounceChunkAsync(new AnnounceChunkRequest
        {
            Acquisition = "bad_input_00002",
            Module = 4,
            Modules = 3,
            Path = "x.nxs",
        }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("module 4 of 3", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkerStatus_Integrate_ReportsTheSettingsItApplies()
    {
        var service = suite.Suite.Services.Single(s => s.Name == "integrate");
        using var channel = GrpcChannel.ForAddress(service.Address);
        var status = await new WorkerStatus.WorkerStatusClient(channel).GetStatusAsync(new WorkerStatusRequest()).ResponseAsync.DefaultTimeout();
        Assert.Equal("integrate", status.Stage);
        Assert.Contains($"\"npt\":{suite.Npt}", status.SettingsJson, StringComparison.Ordinal);
    }
}
