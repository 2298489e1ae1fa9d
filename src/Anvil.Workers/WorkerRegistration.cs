using Anvil.Broker.Client;
using Anvil.Pipeline;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Anvil.Workers;

/// <summary>Registration shared by the chain's services: pipeline options and the broker client.</summary>
public static class WorkerRegistration
{
    /// <summary>Binds <see cref="PipelineOptions"/> from the <c>Pipeline</c> section and registers a <see cref="BrokerClient"/>, the <see cref="SettingsStore"/>, <see cref="PauseStore"/>, <see cref="ResultIndex"/> and <see cref="AcquisitionControl"/>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">Holds the <c>Pipeline</c> section.</param>
    /// <param name="brokerClient">Changes the broker client's options (ingest answers a full broker disk at once).</param>
    public static IServiceCollection AddPipelineDefaults(this IServiceCollection services, IConfiguration configuration,
        Func<BrokerClientOptions, BrokerClientOptions>? brokerClient = null)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.Configure<PipelineOptions>(configuration.GetSection(PipelineOptions.Section));
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<PipelineOptions>>().Value);
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<PipelineOptions>();
            var client = new BrokerClientOptions
            {
                Beamtime = options.Beamtime,
                Token = options.ResolveBrokerToken(),
                RetryFor = TimeSpan.FromMinutes(5),
            };
            return BrokerClient.Connect(options.Broker, brokerClient?.Invoke(client) ?? client);
        });
        services.AddSingleton(sp => DetectorSet.From(sp.GetRequiredService<PipelineOptions>()));
        services.AddSingleton<SettingsStore>();
        services.AddSingleton<PauseStore>();
        services.AddSingleton<ResultIndex>();
        services.AddSingleton<AcquisitionControl>();
        return services;
    }

    /// <summary>Registers a stage worker as a hosted service and as itself (for the status service).</summary>
    public static IServiceCollection AddAcquisitionWorker<TWorker>(this IServiceCollection services)
        where TWorker : AcquisitionWorker
    {
        services.AddSingleton<TWorker>();
        services.AddSingleton<AcquisitionWorker>(sp => sp.GetRequiredService<TWorker>());
        services.AddHostedService(sp => sp.GetRequiredService<TWorker>());
        services.AddHealthChecks().AddCheck<AcquisitionsHealthCheck>("acquisitions");
        return services;
    }
}
