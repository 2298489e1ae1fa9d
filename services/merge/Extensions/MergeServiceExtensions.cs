using Anvil.Merge.Service.Merging;
using Anvil.Workers;

namespace Microsoft.Extensions.Hosting;

/// <summary>Wiring of the merge service.</summary>
public static class MergeServiceExtensions
{
    /// <summary>Pipeline options, the broker client and the merge worker.</summary>
    public static IHostApplicationBuilder AddMergeServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddPipelineDefaults(builder.Configuration);
        builder.Services.AddAcquisitionWorker<MergeWorker>();
        return builder;
    }
}
