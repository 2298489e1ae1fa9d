using Anvil.Ingest.Service.Grpc;
using Anvil.Ingest.Service.Ingesting;
using Anvil.Ingest.Service.Options;
using Anvil.Workers;

namespace Microsoft.Extensions.Hosting;

/// <summary>Wiring of the ingest service.</summary>
public static class IngestServiceExtensions
{
    /// <summary>Pipeline options, the broker client, the announcer, operator control with its token rule and (with Ingest:Watch set) the directory watcher.</summary>
    public static IHostApplicationBuilder AddIngestServices(this IHostApplicationBuilder builder)
    {
        // A full broker disk is answered at once (UNAVAILABLE, which drivers retry), not after minutes of retrying here.
        builder.Services.AddPipelineDefaults(builder.Configuration, client => client with { RetryWhileFullFor = TimeSpan.FromSeconds(2) });
        builder.Services.Configure<IngestOptions>(builder.Configuration.GetSection(IngestOptions.Section));

        // Control changes need a token when ingest listens beyond loopback (ControlAuth).
        builder.Services.Configure<ControlAuthOptions>(builder.Configuration.GetSection(ControlAuthOptions.Section));
        builder.Services.AddSingleton<ControlAuth>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ControlAuth>());
        builder.Services.AddSingleton<ControlAuthInterceptor>();
        builder.Services.AddGrpc().AddServiceOptions<ControlService>(o => o.Interceptors.Add<ControlAuthInterceptor>());
        builder.Services.AddSingleton<ChunkAnnouncer>();
        builder.Services.AddSingleton<Reprocessor>();
        builder.Services.AddHostedService<DirectoryWatcher>();
        return builder;
    }
}
