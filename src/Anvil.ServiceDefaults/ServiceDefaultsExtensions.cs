using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

// Declared in the hosting namespace (as eShop does) so services need no extra using.
namespace Microsoft.Extensions.Hosting;

/// <summary>Cross-cutting defaults shared by every Anvil service.</summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>Activity sources and meters of Anvil's own libraries (broker client, workers).</summary>
    public static readonly string[] AnvilTelemetryNames = ["Anvil.Broker", "Anvil.Broker.Client", "Anvil.Pipeline"];

    /// <summary>
    /// HTTP/2-only plaintext endpoints (so grpcurl and other h2c clients connect), OpenTelemetry,
    /// gRPC with reflection and the standard health service.
    /// </summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        // One pipeline config file (ANVIL_CONFIG), then environment variables and the command line over it.
        if (builder.Configuration["ANVIL_CONFIG"] is { Length: > 0 } configFile)
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: true);
            builder.Configuration.AddEnvironmentVariables();
            builder.Configuration.AddCommandLine(Environment.GetCommandLineArgs()[1..]);
        }

        builder.Services.Configure<KestrelServerOptions>(o =>
            o.ConfigureEndpointDefaults(e => e.Protocols = HttpProtocols.Http2));
        builder.ConfigureOpenTelemetry();
        builder.Services.AddGrpc(o =>
        {
            o.EnableDetailedErrors = true;
            o.MaxReceiveMessageSize = 32 * 1024 * 1024;
            o.MaxSendMessageSize = 32 * 1024 * 1024;
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddGrpcHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy());
        return builder;
    }

    /// <summary>
    /// Traces, metrics and logs through OpenTelemetry, configured only by the standard OTEL_*
    /// variables: no exporter unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
    /// </summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        // gRPC logs every non-OK status at Information; END_OF_STREAM and STREAM_FINISHED are normal answers here.
        builder.Logging.AddFilter("Grpc.AspNetCore.Server.ServerCallHandler", LogLevel.Warning);
        builder.Logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.IncludeScopes = true;
        });
        var serviceName = builder.Configuration["OTEL_SERVICE_NAME"] ?? builder.Environment.ApplicationName;
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithTracing(t => t
                .AddSource(AnvilTelemetryNames)
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx =>
                    !ctx.Request.Path.StartsWithSegments("/grpc.health.v1.Health", StringComparison.Ordinal)))
            .WithMetrics(m => m
                .AddMeter(AnvilTelemetryNames)
                .AddAspNetCoreInstrumentation());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>Maps the gRPC health service and (unless Anvil:Reflection is false) reflection.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapGrpcHealthChecksService();
        if (app.Configuration.GetValue("Anvil:Reflection", true))
        {
            app.MapGrpcReflectionService();
        }

        return app;
    }

    /// <summary>A configuration value that must be present; fails fast naming the key.</summary>
    public static string GetRequired(this IConfiguration configuration, string key) =>
        configuration[key] is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"Configuration value '{key}' is missing; set it in the pipeline config or as an environment variable ({key.Replace(":", "__", StringComparison.Ordinal)}).");
}
