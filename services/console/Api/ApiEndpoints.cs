using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Anvil.Console.Service.Catalog;
using Anvil.Viewer;

namespace Anvil.Console.Service.Api;

/// <summary>
/// The console's HTTP API (JSON, a binary image, text exports). Every failure a person can cause — an unknown
/// acquisition or frame, a unit the acquisition cannot support, an unreadable result file, a bad parameter — is a
/// 4xx with an RFC 7807 problem body saying what to do; result files are only ever opened read-only.
/// </summary>
public static class ApiEndpoints
{
    private const int MaxPixels = 4096;

    public static IEndpointRouteBuilder MapConsoleApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/acquisitions", (AcquisitionCatalog catalog) => Results.Ok(catalog.List().Select(a => new
        {
            name = a.Name,
            state = a.State,
            framesDone = a.FramesDone,
            framesExpected = a.FramesExpected,
            failed = a.Failed,
            missing = a.Missing,
            settings = a.SettingsJson,
            resultFile = a.ResultFile,
            error = a.Error,
            updated = a.UpdatedUtc,
        }))).WithSummary("Every acquisition: live ones from the broker and every result file in the output folder.");

        api.MapGet("/acquisitions/{acquisition}", (string acquisition, AcquisitionCatalog catalog) => WithView(catalog, acquisition, view => Results.Ok(new
        {
            name = view.Name,
            state = view.State,
            source = view.Source,
            frames = view.Matrix?.Rows ?? 0,
            framesDone = view.FramesDone,
            framesExpected = view.FramesExpected,
            failed = view.Failed.Select(f => new { frame = f.Frame, reason = f.Reason }),
            settings = view.SettingsJson,
            resultFile = view.ResultPath,
            bins = view.Axis?.Count ?? 0,
            wavelengthAngstrom = view.Axis?.WavelengthAngstrom,
            wavelengthSource = view.Axis?.WavelengthSource,
            units = view.Axis is null ? [] : RadialUnits.All.Select(u => UnitInfo(view.Axis, u.Unit)).ToArray(),
            version = view.Version,
        }))).WithSummary("One acquisition: progress, failed frames, settings, and the units its axis can be shown in.");

        api.MapGet("/acquisitions/{acquisition}/image", Image)
            .WithSummary("The heatmap of what is on screen, reduced on the server: little-endian float32, height × width, row-major; NaN where no data; bg=true subtracts each displayed row's automatic background.");

        api.MapGet("/acquisitions/{acquisition}/frames/{frame:long}", Profile)
            .WithSummary("One frame's profile in a unit, with its automatic background when bg=true.");

        api.MapGet("/acquisitions/{acquisition}/frames/{frame:long}/raw", Raw)
            .WithSummary("The frame's stitched detector image re-read from its chunk files, reduced to at most w × h: little-endian float32 pixel means, then as many float32 masked fractions (gaps and the mask file).");

        api.MapGet("/acquisitions/{acquisition}/frames/{frame:long}.xy", Xy)
            .WithSummary("One frame's profile as DIOPTAS-style .xy text: '#' header, last header line names the unit, two columns.");

        api.MapGet("/acquisitions/{acquisition}/result.nxs", (string acquisition, AcquisitionCatalog catalog) =>
            catalog.ResultPath(acquisition) is { } path
                ? Results.File(path, "application/x-hdf5", Path.GetFileName(path))
                : Problem(404, "No result file", catalog.View(acquisition) is null
                    ? $"No acquisition '{acquisition}' is known."
                    : $"'{acquisition}' has no result file yet: merge writes it when the acquisition is complete."))
            .WithSummary("The acquisition's NeXus result file, as merge wrote it.");

        api.MapGet("/acquisitions/{acquisition}/result.csv", Csv)
            .WithSummary("The whole acquisition as CSV: a header row of radial values in the unit, one row per frame.");

        api.MapGet("/phases", () => Results.Ok(Phases.BuiltInNames))
            .WithSummary("Built-in phases (calibrants and pressure markers).");

        api.MapGet("/acquisitions/{acquisition}/phases/{phase}", (string acquisition, string phase, string? unit, AcquisitionCatalog catalog) =>
            Phases.BuiltIn(phase) is { } known
                ? PhaseLines(catalog, acquisition, known, unit)
                : Problem(404, "Unknown phase", $"No built-in phase '{phase}'; built in are {string.Join(", ", Phases.BuiltInNames)}, or post a .jcpds file."))
            .WithSummary("A built-in phase's reflections as positions in the unit, within the acquisition's axis.");

        api.MapPost("/acquisitions/{acquisition}/phases", async (string acquisition, string? unit, string? name, HttpRequest request, AcquisitionCatalog catalog) =>
        {
            if (request.ContentLength is > 1 << 20)
            {
                return Problem(413, "File too large", "A .jcpds file is a few kilobytes; this one is over 1 MiB.");
            }

            using var reader = new StreamReader(request.Body, Encoding.UTF8);
            var text = await reader.ReadToEndAsync(request.HttpContext.RequestAborted);
            try
            {
                return PhaseLines(catalog, acquisition, Phases.ParseJcpds(text, name ?? "jcpds"), unit);
            }
            catch (FormatException ex)
            {
                return Problem(400, "Not a .jcpds file", ex.Message);
            }
        }).Accepts<string>("text/plain").WithSummary("Reflections of a phase from a DIOPTAS .jcpds file (the request body) as positions in the unit.");
        return app;
    }

    private static IResult Image(string acquisition, string? unit, double? x0, double? x1, long? f0, long? f1, int? w, int? h, string? mode, bool? bg, AcquisitionCatalog catalog) =>
        WithAxis(catalog, acquisition, unit, (view, axis, matrix, u) =>
        {
            var reduce = mode switch
            {
                null or "" or "mean" => ReduceMode.Mean,
                "max" => ReduceMode.Max,
                _ => (ReduceMode?)null,
            };
            if (reduce is null)
            {
                return Problem(400, "Unknown mode", $"mode is mean or max, not '{mode}'.");
            }

            var width = Math.Clamp(w ?? 1000, 1, MaxPixels);
            var height = Math.Clamp(h ?? 1000, 1, MaxPixels);
            var (min, max) = axis.Range(u);
            var from = x0 ?? min;
            var to = x1 ?? max;
            if (!double.IsFinite(from) || !double.IsFinite(to) || from == to)
            {
                return Problem(400, "Bad x range", $"x0 and x1 must be two different finite values in {u.Name()}.");
            }

            var first = Math.Max(1, f0 ?? 1);
            var last = Math.Min(matrix.Rows, f1 ?? matrix.Rows);
            var image = ImageReducer.Reduce(matrix, (int)first - 1, (int)last, ImageReducer.ColumnEdges(axis, u, from, to, width), height, reduce.Value);
            if (bg == true)
            {
                // Background subtracted per displayed row (the reduced profile of the frames it covers, in screen columns):
                // the cost follows the pixels on screen, not the file.
                Parallel.For(0, image.Height, r =>
                {
                    var row = image.Values.AsSpan(r * image.Width, image.Width);
                    Background.Subtract(row).CopyTo(row);
                });
            }

            var bytes = new byte[image.Values.Length * 4];
            for (var i = 0; i < image.Values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), image.Values[i]);
            }

            return new ImageResult(bytes, new Dictionary<string, string>
            {
                ["X-Image-Width"] = image.Width.ToString(CultureInfo.InvariantCulture),
                ["X-Image-Height"] = image.Height.ToString(CultureInfo.InvariantCulture),
                ["X-First-Frame"] = (image.FirstRow + 1).ToString(CultureInfo.InvariantCulture),
                ["X-Last-Frame"] = image.EndRow.ToString(CultureInfo.InvariantCulture),
                ["X-Frames"] = matrix.Rows.ToString(CultureInfo.InvariantCulture),
                ["X-X0"] = from.ToString("R", CultureInfo.InvariantCulture),
                ["X-X1"] = to.ToString("R", CultureInfo.InvariantCulture),
                ["X-Version"] = view.Version.ToString(CultureInfo.InvariantCulture),
            });
        });

    private static IResult Profile(string acquisition, long frame, string? unit, bool? bg, AcquisitionCatalog catalog) =>
        WithFrame(catalog, acquisition, frame, unit, (view, axis, u, row) =>
        {
            var y = row.ToArray();
            return Results.Ok(new
            {
                acquisition = view.Name,
                frame,
                unit = u.Name(),
                label = u.Label(),
                x = axis.Values(u).Select(v => double.IsFinite(v) ? v : (double?)null),
                y = y.Select(v => float.IsFinite(v) ? v : (float?)null),
                background = bg == true ? Background.Estimate(y).Select(v => float.IsFinite(v) ? v : (float?)null) : null,
            });
        });

    private static IResult Raw(string acquisition, long frame, int? w, int? h, AcquisitionCatalog catalog) =>
        WithView(catalog, acquisition, view =>
        {
            if (view.SourceOf(frame) is not { } source)
            {
                return Problem(404, "No raw frame", $"'{acquisition}' does not say which chunk file frame {frame} came from.");
            }

            var mask = LiveAcquisition.SettingsField(view.SettingsJson, "mask");
            RawImage raw;
            try
            {
                raw = RawFrame.Read(catalog.Resolve(source.M1File, view.ResultPath), source.Index, mask.Length == 0 ? null : catalog.Resolve(mask, view.ResultPath));
            }
            catch (Exception ex) when (ex is IOException or Anvil.Hdf5.Hdf5Exception or ArgumentException or FormatException or UnauthorizedAccessException)
            {
                return Problem(422, "Raw frame unreadable", $"Frame {frame} of '{acquisition}' cannot be re-read from {source.M1File}: {ex.Message}");
            }

            var pixels = raw.Pixels;
            var masked = new float[pixels.Length];
            for (var i = 0; i < pixels.Length; i++)
            {
                if (raw.Mask[i] != 0)
                {
                    pixels[i] = float.NaN;
                    masked[i] = 1;
                }
            }

            var width = Math.Clamp(w ?? 800, 1, MaxPixels);
            var height = Math.Clamp(h ?? 800, 1, MaxPixels);
            var edges = Enumerable.Range(0, width + 1).Select(c => (double)c * raw.Cols / width).ToArray();
            var image = ImageReducer.Reduce(FrameMatrix.FromDense(pixels, raw.Cols), 0, raw.Rows, edges, height, ReduceMode.Mean);
            var cover = ImageReducer.Reduce(FrameMatrix.FromDense(masked, raw.Cols), 0, raw.Rows, edges, height, ReduceMode.Mean);
            var bytes = new byte[(image.Values.Length + cover.Values.Length) * 4];
            for (var i = 0; i < image.Values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), image.Values[i]);
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan((image.Values.Length + i) * 4), cover.Values[i]);
            }

            return new ImageResult(bytes, new Dictionary<string, string>
            {
                ["X-Image-Width"] = image.Width.ToString(CultureInfo.InvariantCulture),
                ["X-Image-Height"] = image.Height.ToString(CultureInfo.InvariantCulture),
                ["X-Source-Rows"] = raw.Rows.ToString(CultureInfo.InvariantCulture),
                ["X-Source-Cols"] = raw.Cols.ToString(CultureInfo.InvariantCulture),
                ["X-Source-File"] = Uri.EscapeDataString(source.M1File),
            });
        });

    private static IResult Xy(string acquisition, long frame, string? unit, AcquisitionCatalog catalog) =>
        WithFrame(catalog, acquisition, frame, unit, (view, axis, u, row) =>
        {
            using var text = new StringWriter(CultureInfo.InvariantCulture);
            var header = new List<string>
            {
                $"{view.Name} frame {frame}, integrated by Anvil",
                $"source: {view.ResultPath ?? "live profiles from the broker"}",
            };
            if (axis.WavelengthAngstrom is { } lambda)
            {
                header.Add($"Wavelength: {lambda * 1e-10:R} m");
            }

            Exports.WriteXy(text, axis.Values(u), row, u, header);
            return Results.File(Encoding.UTF8.GetBytes(text.ToString()), "text/plain; charset=utf-8", $"{view.Name}_{frame:D5}.xy");
        });

    private static IResult Csv(string acquisition, string? unit, AcquisitionCatalog catalog) =>
        WithAxis(catalog, acquisition, unit, (view, axis, matrix, u) =>
        {
            using var text = new StringWriter(CultureInfo.InvariantCulture);
            Exports.WriteCsv(text, axis.Values(u), matrix, view.FrameNumbers);
            return Results.File(Encoding.UTF8.GetBytes(text.ToString()), "text/csv; charset=utf-8", $"{view.Name}_{u.Name().Replace('^', '_')}.csv");
        });

    private static IResult PhaseLines(AcquisitionCatalog catalog, string acquisition, Phase phase, string? unit) =>
        WithAxis(catalog, acquisition, unit, (view, axis, matrix, u) =>
        {
            if (axis.WavelengthAngstrom is not { } lambda)
            {
                return Problem(422, "No wavelength", $"Phase lines need the X-ray wavelength, and '{view.Name}' has none ({axis.WavelengthSource}).");
            }

            var (min, max) = axis.Range(u);
            var lines = phase.Reflections
                .Select(r => new { hkl = $"{r.H}{r.K}{r.L}", d = r.D, intensity = r.Intensity, x = RadialUnits.FromTwoTheta(RadialUnits.ToTwoTheta(r.D, RadialUnit.DAngstrom, lambda), u, lambda) })
                .Where(l => double.IsFinite(l.x) && l.x >= min && l.x <= max)
                .ToArray();
            return Results.Ok(new { name = phase.Name, unit = u.Name(), lines });
        });

    private static object UnitInfo(RadialAxis axis, RadialUnit unit)
    {
        var supported = !unit.NeedsWavelength() || axis.WavelengthAngstrom is not null;
        var range = supported ? axis.Range(unit) : (double.NaN, double.NaN);
        return new
        {
            name = unit.Name(),
            label = unit.Label(),
            supported,
            min = supported ? range.Item1 : (double?)null,
            max = supported ? range.Item2 : (double?)null,
            descending = unit.Descending(),
        };
    }

    private static IResult WithView(AcquisitionCatalog catalog, string acquisition, Func<AcquisitionView, IResult> then)
    {
        AcquisitionView? view;
        try
        {
            view = catalog.View(acquisition);
        }
        catch (ResultFileException ex)
        {
            return Problem(422, "Unreadable result file", ex.Message);
        }

        return view is null
            ? Problem(404, "Unknown acquisition", $"No acquisition '{acquisition}': it is neither streaming through the broker nor a result file in {catalog.OutputDir}.")
            : then(view);
    }

    private static IResult WithAxis(AcquisitionCatalog catalog, string acquisition, string? unit, Func<AcquisitionView, RadialAxis, FrameMatrix, RadialUnit, IResult> then) =>
        WithView(catalog, acquisition, view =>
        {
            if (!RadialUnits.TryParse(unit ?? "2th_deg", out var u))
            {
                return Problem(400, "Unknown unit", $"unit is one of {string.Join(", ", RadialUnits.All.Select(x => x.Name))}, not '{unit}'.");
            }

            if (view.Axis is null || view.Matrix is null)
            {
                return Problem(409, "No frames yet", $"'{acquisition}' has no integrated frame yet; try again in a moment.");
            }

            try
            {
                view.Axis.Require(u);
                return then(view, view.Axis, view.Matrix, u);
            }
            catch (UnitNotSupportedException ex)
            {
                return Problem(422, "Unit not supported", ex.Message);
            }
        });

    private static IResult WithFrame(AcquisitionCatalog catalog, string acquisition, long frame, string? unit, Func<AcquisitionView, RadialAxis, RadialUnit, float[], IResult> then) =>
        WithAxis(catalog, acquisition, unit, (view, axis, matrix, u) =>
        {
            var failed = view.Failed.FirstOrDefault(f => f.Frame == frame);
            if (failed.Frame == frame && frame != 0)
            {
                return Problem(404, "Frame failed", $"Frame {frame} of '{acquisition}' failed: {failed.Reason}");
            }

            var row = (int)Math.Clamp(frame - 1, -1, int.MaxValue);
            if (view.FrameNumbers is { Count: > 0 } numbers && row >= 0 && row < numbers.Count && numbers[row] != frame)
            {
                row = numbers.ToList().IndexOf(frame);
            }

            var data = row >= 0 ? matrix.Row(row) : [];
            return data.IsEmpty
                ? Problem(404, "Unknown frame", $"'{acquisition}' has no frame {frame}: frames run from 1 to {matrix.Rows}{(view.Source == "broker" ? " so far" : string.Empty)}.")
                : then(view, axis, u, data.ToArray());
        });

    private static IResult Problem(int status, string title, string detail) => Results.Problem(detail: detail, statusCode: status, title: title);

    // Raw bytes with headers that describe them.
    private sealed class ImageResult(byte[] bytes, Dictionary<string, string> headers) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            foreach (var (key, value) in headers)
            {
                httpContext.Response.Headers[key] = value;
            }

            httpContext.Response.Headers.CacheControl = "no-store";
            httpContext.Response.ContentType = "application/octet-stream";
            httpContext.Response.ContentLength = bytes.Length;
            await httpContext.Response.Body.WriteAsync(bytes, httpContext.RequestAborted);
        }
    }
}
