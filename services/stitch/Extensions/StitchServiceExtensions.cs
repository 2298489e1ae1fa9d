using Anvil.Stitch.Service.Planning;
using Anvil.Workers;

namespace Microsoft.Extensions.Hosting;

/// <summary>Wiring of the stitch service.</summary>
public static class StitchServiceExtensions
{
    /// <summary>Pipeline options, the broker client and the stitch worker.</summary>
    public static IHostApplicationBuilder AddStitchServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddPipelineDefaults(builder.Configuration);
        builder.Services.AddAcquisitionWorker<StitchPlanner>();
        return builder;
    }
}
