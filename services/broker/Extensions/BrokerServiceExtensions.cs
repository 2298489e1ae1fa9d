using Anvil.Broker.Core;
using Anvil.Broker.Service.Grpc;
using Anvil.Broker.Service.Hosting;
using Anvil.Broker.Service.Options;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Anvil.Broker.Service.Extensions;

public static class BrokerServiceExtensions
{
    /// <summary>The largest request the broker takes by default.</summary>
    public const int MaxRequestBytes = 32 * 1024 * 1024;

    /// <summary>Registers the broker core (one per process), its options, auth (docs/broker.md §8), subscriptions and the gRPC error mapping.</summary>
    public static TBuilder AddBrokerServices<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<BrokerServiceOptions>().Bind(builder.Configuration.GetSection(BrokerServiceOptions.Section));

        // §8: a broker with auth on and no usable secret refuses to start, before it listens on anything.
        var auth = builder.Configuration.GetSection(BrokerServiceOptions.Section).Get<BrokerServiceOptions>()?.Auth ?? new BrokerAuthOptions();
        if (auth.Enabled)
        {
            _ = Anvil.Broker.Auth.SigningKeys.Load(auth.SecretFile, Environment.GetEnvironmentVariable(Anvil.Broker.Auth.SigningKeys.EnvironmentVariable));
        }

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<BrokerMetrics>();
        builder.Services.AddSingleton(sp => new MessageBroker(
            sp.GetRequiredService<IOptions<BrokerServiceOptions>>().Value.ToCore(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<BrokerMetrics>(),
            recoverInBackground: true));
        builder.Services.AddHostedService<BrokerStartup>();
        builder.Services.AddHealthChecks().AddCheck<BrokerRecoveryHealthCheck>("broker-recovery").AddCheck<BrokerStorageHealthCheck>(BrokerStorageHealthCheck.Name);
        builder.Services.AddSingleton<BrokerStorageStatus>();

        // A full disk is reported on its own gRPC health service; the overall health stays SERVING (reads go on, and the
        // broker recovers by itself once there is room: a restart would not help).
        builder.Services.Configure<global::Grpc.AspNetCore.HealthChecks.GrpcHealthChecksOptions>(o =>
        {
            o.Services.Map("", r => r.Name != BrokerStorageHealthCheck.Name);
            o.Services.Map(BrokerStorageHealthCheck.GrpcServiceName, r => r.Name == BrokerStorageHealthCheck.Name);
        });
        builder.Services.AddSingleton<BrokerErrorInterceptor>();
        builder.Services.AddSingleton<BrokerAuth>();
        builder.Services.AddSingleton<AuthInterceptor>();
        builder.Services.AddSingleton<Subscriptions>();
        builder.Services.AddHostedService<BrokerAuthStartup>();

        // The error interceptor is outermost, so auth failures become rich statuses like every other broker error.
        // Producers send batches of profiles: 32 MiB a request unless Anvil:MaxRequestBytes says otherwise.
        var maxRequestBytes = builder.Configuration.GetValue("Anvil:MaxRequestBytes", MaxRequestBytes);
        builder.Services.Configure<global::Grpc.AspNetCore.Server.GrpcServiceOptions>(o =>
        {
            o.MaxReceiveMessageSize = maxRequestBytes;
            o.Interceptors.Add<BrokerErrorInterceptor>();
            o.Interceptors.Add<AuthInterceptor>();
        });
        return builder;
    }
}
