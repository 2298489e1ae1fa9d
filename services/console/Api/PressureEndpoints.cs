using Anvil.Console.Service.Catalog;
using Anvil.Console.Service.Status;
using Anvil.Hdf5;
using Anvil.Pipeline.V1;
using Anvil.Pressure;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;

namespace Anvil.Console.Service.Api;

/// <summary>
/// The pressure of an acquisition for the P–t plot beside the heatmap: the result file's <c>/processed/pressure</c>
/// (merge's online stage, or a file <c>anvil pressure</c> wrote), read with the library that writes it; while the
/// acquisition runs, the frames merge's online stage has tracked so far (anvil.pipeline.v1.LivePressure), from the rows
/// the group will be written from. An acquisition without a pressure is a 404 problem saying so.
/// </summary>
public static class PressureEndpoints
{
    public static IEndpointRouteBuilder MapPressureApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/acquisitions/{acquisition}/pressure", PressureAsync)
            .WithSummary("The pressure per frame (GPa, 1σ), frame time (s), fitted marker position and FWHM (2θ degrees), ok flag and reason: from the result's /processed/pressure, or, while the acquisition runs, from merge's online stage (live = true, the frames tracked so far); NaN/null where a frame was flagged.");
        return app;
    }

    private static async Task<IResult> PressureAsync(string acquisition, AcquisitionCatalog catalog, LivePressureClient merge, CancellationToken cancellationToken)
    {
        if (catalog.ResultPath(acquisition) is not { } path)
        {
            if (catalog.View(acquisition) is null)
            {
                return Problem(404, "No result file", $"No acquisition '{acquisition}' is known.");
            }

            // Still running: merge's online stage has the frames tracked so far.
            try
            {
                var reply = await merge.GetAsync(acquisition, cancellationToken);
                return Json(new PressureSeries([.. reply.Frame], [.. reply.FrameTime], [.. reply.Pressure], [.. reply.PressureError], [.. reply.Position],
                    [.. reply.Fwhm], [.. reply.DSpacing], [.. reply.Ok.Select(o => o ? (byte)1 : (byte)0)], [.. reply.Reason], reply.Marker, reply.Hkl,
                    reply.Eos, reply.TimeSource, reply.SettingsHash, reply.Program), live: true, (long)reply.FramesMerged);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
            {
                return Problem(404, "No pressure yet", $"'{acquisition}' has no result file yet and merge has no pressure for it: {ex.Status.Detail}");
            }
            catch (RpcException ex)
            {
                return Problem(503, "Merge not answering", $"'{acquisition}' is still running and merge ({merge.Address}) did not answer: {ex.Status.Detail}");
            }
        }

        PressureSeries? series;
        try
        {
            using var file = Hdf5File.OpenRead(path);
            series = PressureGroup.Read(file);
        }
        catch (Exception ex) when (ex is IOException or Hdf5Exception or UnauthorizedAccessException)
        {
            return Problem(422, "Result file unreadable", $"{Path.GetFileName(path)}: {ex.Message}");
        }

        if (series is null)
        {
            return Problem(404, "No pressure", $"{Path.GetFileName(path)} has no /processed/pressure: switch the pressure stage on (pipeline settings, `anvil settings --pressure \"Au 111\"`) or run `anvil pressure` on it.");
        }

        return Json(series, live: false, series.Frame.Length);
    }

    private static IResult Json(PressureSeries series, bool live, long framesMerged)
    {
        // JSON has no NaN: flagged frames are null.
        static double?[] N(double[] values) => values.Select(v => double.IsFinite(v) ? v : (double?)null).ToArray();
        return Results.Ok(new
        {
            live,
            framesMerged,
            marker = series.Marker,
            hkl = series.Hkl,
            eos = series.Eos,
            timeSource = series.TimeSource,
            settingsHash = series.SettingsHash,
            program = series.Program,
            frame = series.Frame,
            time = N(series.Time),
            pressure = N(series.Pressure),
            pressureError = N(series.PressureError),
            position = N(series.Position),
            fwhm = N(series.Fwhm),
            ok = series.Ok.Select(o => o == 1).ToArray(),
            reason = series.Reason,
        });
    }

    private static IResult Problem(int status, string title, string detail) => Results.Problem(detail: detail, statusCode: status, title: title);
}

/// <summary>Merge's LivePressure service, at the address the Status tab knows merge by (<see cref="StatusOptions.Services"/>).</summary>
public sealed class LivePressureClient(IOptions<StatusOptions> options) : IDisposable
{
    private readonly Lazy<GrpcChannel> channel = new(() => GrpcChannel.ForAddress(Find(options.Value)));

    /// <summary>Merge's gRPC address.</summary>
    public string Address => Find(options.Value);

    /// <summary>The pressure merge has tracked so far; RpcException NOT_FOUND when it has none for the acquisition.</summary>
    public async Task<LivePressureReply> GetAsync(string acquisition, CancellationToken cancellationToken) =>
        await new LivePressure.LivePressureClient(channel.Value).GetAsync(
            new LivePressureRequest { Acquisition = acquisition }, deadline: DateTime.UtcNow + options.Value.StatusTimeout, cancellationToken: cancellationToken);

    /// <inheritdoc />
    public void Dispose()
    {
        if (channel.IsValueCreated)
        {
            channel.Value.Dispose();
        }
    }

    private static string Find(StatusOptions options) => options.Instances().FirstOrDefault(i => i.Name == "merge").Address ?? Pipeline.ServiceAddresses.Merge;
}
