using System.Diagnostics;
using Anvil.EndToEnd.Tests.Otlp;
using Anvil.Pipeline;
using Anvil.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// The services' telemetry defaults in process (ServiceDefaults' <c>ConfigureOpenTelemetry</c>, the real OTLP exporter)
/// at a sampling ratio of 0: ordinary spans are dropped, errored ones always reach the receiver.
/// </summary>
[Collection(SuiteCollection.Name)]
public sealed class SamplingTests
{
    [Fact]
    public async Task RatioZero_ErroredSpansAndTheirOpenParents_AreExportedOthersAreNot()
    {
        using var receiver = new OtlpReceiver();
        var run = Guid.NewGuid().ToString("N")[..8];
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ApplicationName = "sampling-test" });
        builder.Configuration.AddInMemoryCollection(receiver.Environment().Select(e => KeyValuePair.Create(e.Key, (string?)e.Value)).Concat(
        [
            new("OTEL_SERVICE_NAME", "sampling-" + run),
            new("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            new("OTEL_TRACES_SAMPLER_ARG", "0"),
        ]));
        builder.ConfigureOpenTelemetry();
        using (var host = builder.Build())
        {
            await host.StartAsync().DefaultTimeout();
            using (PipelineTelemetry.Source.StartActivity("ok " + run))
            {
            }

            using (var failed = PipelineTelemetry.Source.StartActivity("status-error " + run))
            {
                // Set by code that knows nothing of sampling: the processor keeps it.
                failed?.SetStatus(ActivityStatusCode.Error, "boom");
            }

            using (var parent = PipelineTelemetry.Source.StartActivity("parent " + run))
            {
                Assert.False(parent!.Recorded);
                using (var child = PipelineTelemetry.Source.StartActivity("child " + run))
                {
                    PipelineTelemetry.RecordError(child, "frame failed", new InvalidDataException("corrupt chunk"));
                }

                // A frame span started after the error is sampled: its traceparent carries the flag downstream.
                using var after = PipelineTelemetry.Source.StartActivity("after " + run);
                Assert.True(after!.Recorded);
            }

            await host.StopAsync().DefaultTimeout();
        }

        await TaskTimeoutExtensions.Until("the errored spans arrive", () =>
            new[] { "status-error", "child", "parent", "after" }.All(n => receiver.Spans.Any(s => s.Name == $"{n} {run}")), TimeSpan.FromSeconds(20));
        Assert.DoesNotContain(receiver.Spans, s => s.Name == "ok " + run);
        Assert.True(receiver.Spans.Single(s => s.Name == "child " + run).Error);
        Assert.Equal(receiver.Spans.Single(s => s.Name == "parent " + run).SpanId, receiver.Spans.Single(s => s.Name == "child " + run).ParentSpanId);
        Assert.Equal("sampling-" + run, receiver.Spans.Single(s => s.Name == "child " + run).Service);
    }
}
