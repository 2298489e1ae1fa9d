using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Anvil.ServiceDefaults.Telemetry;

/// <summary>
/// Where a service serves Prometheus text: the OpenTelemetry spec's <c>OTEL_EXPORTER_PROMETHEUS_HOST</c> (default
/// 127.0.0.1 here, not all interfaces) and <c>OTEL_EXPORTER_PROMETHEUS_PORT</c> (no default: unset means no endpoint).
/// It is a Kestrel endpoint of its own speaking HTTP/1.1, because the gRPC endpoint is HTTP/2-only (h2c) and a
/// Prometheus scrape is HTTP/1.1; <c>GET http://HOST:PORT/metrics</c>.
/// </summary>
public sealed record PrometheusEndpoint(string Host, int Port)
{
    /// <summary>The endpoint the configuration asks for, or null.</summary>
    public static PrometheusEndpoint? FromConfiguration(IConfiguration configuration) =>
        int.TryParse(configuration["OTEL_EXPORTER_PROMETHEUS_PORT"], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536
            ? new PrometheusEndpoint(configuration["OTEL_EXPORTER_PROMETHEUS_HOST"] is { Length: > 0 } host ? host : "127.0.0.1", port)
            : null;

    /// <summary>Adds <c>Kestrel:Endpoints:Metrics</c> (HTTP/1.1) beside the service's gRPC endpoint.</summary>
    public void AddKestrelEndpoint(IConfigurationBuilder configuration) =>
        configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Metrics:Url"] = $"http://{Host}:{Port}",
            ["Kestrel:Endpoints:Metrics:Protocols"] = "Http1",
        });
}
