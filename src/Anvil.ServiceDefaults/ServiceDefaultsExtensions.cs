using Anvil.ServiceDefaults;
using Anvil.ServiceDefaults.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
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

    /// <summary>The largest gRPC request a service takes unless Anvil:MaxRequestBytes says otherwise.</summary>
    public const int DefaultMaxRequestBytes = 64 * 1024;

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
        // A request larger than Anvil:MaxRequestBytes is refused with RESOURCE_EXHAUSTED before it is parsed. 64 KiB is
        // ample for what ingest, the workers and the console take (an announcement, a settings change with four paths
        // of at most 4096 characters, a status or health call) and keeps an abusive request from costing megabytes;
        // the broker, which takes batches of profiles, raises its own default in AddBrokerServices.
        var limit = builder.Configuration.GetValue("Anvil:MaxRequestBytes", DefaultMaxRequestBytes);
        builder.Services.AddGrpc(o =>
        {
            o.EnableDetailedErrors = true;
            o.MaxReceiveMessageSize = limit;
            o.MaxSendMessageSize = 32 * 1024 * 1024;
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddGrpcHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy());
        return builder;
    }

    /// <summary>
    /// Traces, metrics and logs through OpenTelemetry, configured only by the standard OTEL_* variables:
    /// OTLP export only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (protocol, headers, batch delay and
    /// service name from the other OTEL_EXPORTER_OTLP_* / OTEL_BSP_* / OTEL_SERVICE_NAME variables), head
    /// sampling from <c>OTEL_TRACES_SAMPLER</c>/<c>_ARG</c> with errored spans always kept (<see cref="TraceSampling"/>),
    /// Prometheus text on its own HTTP/1.1 port when <c>OTEL_EXPORTER_PROMETHEUS_PORT</c> is set, and nothing at
    /// all when <c>OTEL_SDK_DISABLED=true</c>. Logs carry the current trace and span ids (console scopes, OTLP records).
    /// </summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        // gRPC logs every non-OK status at Information; END_OF_STREAM and STREAM_FINISHED are normal answers here.
        builder.Logging.AddFilter("Grpc.AspNetCore.Server.ServerCallHandler", LogLevel.Warning);
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        // UTC timestamps, so the console's Status tab can say when each line was written.
        builder.Logging.AddSimpleConsole(o =>
        {
            o.IncludeScopes = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });

        // The same entries in memory, for ProcessStatus/GetLog: the console's log view where no supervisor keeps the output.
        var recent = new RecentLog();
        builder.Services.AddSingleton(recent);
        builder.Logging.AddProvider(new RecentLogProvider(recent));
        if (string.Equals(builder.Configuration["OTEL_SDK_DISABLED"], "true", StringComparison.OrdinalIgnoreCase))
        {
            return builder;
        }

        builder.Logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.IncludeScopes = true;
        });
        var serviceName = builder.Configuration["OTEL_SERVICE_NAME"] ?? builder.Environment.ApplicationName;
        var prometheus = PrometheusEndpoint.FromConfiguration(builder.Configuration);
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithTracing(t => t
                .SetSampler(TraceSampling.FromConfiguration(builder.Configuration))
                .AddSource(AnvilTelemetryNames)
                .AddAspNetCoreInstrumentation(o => o.Filter = TraceRequest)
                .AddProcessor(new KeepErroredSpansProcessor()))
            .WithMetrics(m =>
            {
                m.AddMeter(AnvilTelemetryNames).AddAspNetCoreInstrumentation();
                if (prometheus is not null)
                {
                    m.AddPrometheusExporter();
                }
            });
        if (prometheus is not null)
        {
            prometheus.AddKestrelEndpoint(builder.Configuration);
        }

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>Maps the gRPC health service, the process status (CPU, memory), reflection (unless Anvil:Reflection is false) and the Prometheus scrape endpoint.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapGrpcHealthChecksService();
        app.MapGrpcService<ProcessStatusService>();
        if (app.Configuration.GetValue("Anvil:Reflection", true))
        {
            app.MapGrpcReflectionService();
        }

        if (!string.Equals(app.Configuration["OTEL_SDK_DISABLED"], "true", StringComparison.OrdinalIgnoreCase) &&
            PrometheusEndpoint.FromConfiguration(app.Configuration) is { } prometheus)
        {
            // Only on the metrics port: the gRPC endpoint is HTTP/2-only (h2c), a Prometheus scrape is HTTP/1.1.
            app.UseOpenTelemetryPrometheusScrapingEndpoint(ctx =>
                ctx.Connection.LocalPort == prometheus.Port && ctx.Request.Path == "/metrics");
        }

        return app;
    }

    // Server spans for the RPCs that carry a frame's story. Health and reflection are probes; the broker's own RPCs
    // (long polls, acks, sends) would each be a one-span trace: the broker instead writes a store and a deliver span
    // per message into the message's own trace (README.md here), and RPC latency stays in the metrics.
    private static bool TraceRequest(HttpContext context) =>
        !context.Request.Path.StartsWithSegments("/grpc.health.v1.Health", StringComparison.Ordinal) &&
        !context.Request.Path.StartsWithSegments("/grpc.reflection.v1.ServerReflection", StringComparison.Ordinal) &&
        !context.Request.Path.StartsWithSegments("/grpc.reflection.v1alpha.ServerReflection", StringComparison.Ordinal) &&
        !context.Request.Path.Value!.StartsWith("/anvil.broker.v1.", StringComparison.Ordinal);

    /// <summary>A configuration value that must be present; fails fast naming the key.</summary>
    public static string GetRequired(this IConfiguration configuration, string key) =>
        configuration[key] is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"Configuration value '{key}' is missing; set it in the pipeline config or as an environment variable ({key.Replace(":", "__", StringComparison.Ordinal)}).");
}
