using Anvil.Integrate.Service.Integrating;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Workers;

namespace Microsoft.Extensions.Hosting;

/// <summary>Wiring of the integrate service.</summary>
public static class IntegrateServiceExtensions
{
    /// <summary>Pipeline options, the broker client, the module file cache, the engine cache and frame batcher, and the integrate worker.</summary>
    public static IHostApplicationBuilder AddIntegrateServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddPipelineDefaults(builder.Configuration);
        builder.Services.AddSingleton<ModuleFileCache>();
        builder.Services.AddSingleton<EngineCache>();
        builder.Services.AddSingleton<FrameBatcher>();
        builder.Services.AddAcquisitionWorker<IntegrateWorker>();
        return builder;
    }
}
