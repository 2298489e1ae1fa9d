using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using OpenTelemetry.Trace;

namespace Anvil.ServiceDefaults.Telemetry;

/// <summary>
/// Head sampling from the standard <c>OTEL_TRACES_SAMPLER</c> / <c>OTEL_TRACES_SAMPLER_ARG</c> variables, with one
/// twist so that errored frames are always kept: a span the ratio drops is still <em>recorded</em> (RecordOnly, not
/// Drop), so its attributes exist, and <see cref="KeepErroredSpansProcessor"/> (or <c>PipelineTelemetry.RecordError</c>)
/// flips it to sampled when it ends in error. A recorded-but-unsampled span costs its attributes, not its export.
/// Downstream services see the sampled flag in the traceparent written after the error, so the rest of an errored
/// frame's journey is sampled too (a parent-based sampler follows it). Spans of the same trace that ended before the
/// error, in other processes, are kept only if the ratio kept the trace: that is the price of deciding at the head.
/// </summary>
public static class TraceSampling
{
    /// <summary>The sampler named by the configuration (default <c>parentbased_always_on</c>), never dropping data.</summary>
    public static Sampler FromConfiguration(IConfiguration configuration)
    {
        var name = (configuration["OTEL_TRACES_SAMPLER"] ?? "parentbased_always_on").Trim().ToLowerInvariant();
        var arg = configuration["OTEL_TRACES_SAMPLER_ARG"];
        var ratio = double.TryParse(arg, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r is >= 0 and <= 1 ? r : 1.0;
        Sampler inner = name switch
        {
            "always_on" => new AlwaysOnSampler(),
            "always_off" => new AlwaysOffSampler(),
            "traceidratio" => new TraceIdRatioBasedSampler(ratio),
            "parentbased_always_off" => new ParentBasedSampler(new AlwaysOffSampler()),
            "parentbased_traceidratio" => new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio)),
            _ => new ParentBasedSampler(new AlwaysOnSampler()),
        };
        return new RecordUnsampledSampler(inner);
    }

    /// <summary>Turns the inner sampler's Drop into RecordOnly, keeping its attributes and trace state.</summary>
    public sealed class RecordUnsampledSampler(Sampler inner) : Sampler
    {
        /// <inheritdoc />
        public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
        {
            var result = inner.ShouldSample(samplingParameters);
            return result.Decision == SamplingDecision.Drop
                ? new SamplingResult(SamplingDecision.RecordOnly, result.Attributes, result.TraceStateString)
                : result;
        }
    }
}

/// <summary>Marks a span that ends in error as sampled, so the exporter after it keeps the span (see <see cref="TraceSampling"/>).</summary>
public sealed class KeepErroredSpansProcessor : OpenTelemetry.BaseProcessor<Activity>
{
    /// <inheritdoc />
    public override void OnEnd(Activity data)
    {
        if (data.Status == ActivityStatusCode.Error && !data.Recorded)
        {
            data.ActivityTraceFlags |= ActivityTraceFlags.Recorded;
        }
    }
}
