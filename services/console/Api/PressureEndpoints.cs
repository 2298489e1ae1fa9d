using Anvil.Console.Service.Catalog;
using Anvil.Hdf5;
using Anvil.Pressure;

namespace Anvil.Console.Service.Api;

/// <summary>
/// The pressure of an acquisition for the P–t plot beside the heatmap: the result file's <c>/processed/pressure</c>
/// (merge's online stage, or a file <c>anvil pressure</c> wrote), read with the library that writes it. An acquisition
/// without the group, or still running (the group is written with the result file), is a 404 problem saying so.
/// </summary>
public static class PressureEndpoints
{
    public static IEndpointRouteBuilder MapPressureApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/acquisitions/{acquisition}/pressure", Pressure)
            .WithSummary("The pressure per frame (GPa, 1σ), frame time (s), fitted marker position and FWHM (2θ degrees), ok flag and reason, from the result's /processed/pressure; NaN/null where a frame was flagged.");
        return app;
    }

    private static IResult Pressure(string acquisition, AcquisitionCatalog catalog)
    {
        if (catalog.ResultPath(acquisition) is not { } path)
        {
            return Problem(404, "No result file", catalog.View(acquisition) is null
                ? $"No acquisition '{acquisition}' is known."
                : $"'{acquisition}' has no result file yet: merge writes the pressure with it when the acquisition is complete.");
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

        // JSON has no NaN: flagged frames are null.
        static double?[] N(double[] values) => values.Select(v => double.IsFinite(v) ? v : (double?)null).ToArray();
        return Results.Ok(new
        {
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
