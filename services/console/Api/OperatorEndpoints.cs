using System.Globalization;
using System.Text.Json;
using Anvil.Console.Service.Access;
using Anvil.Console.Service.Catalog;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pressure;
using Anvil.Pipeline.V1;
using Anvil.Workers;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Anvil.Console.Service.Api;

/// <summary>
/// The operator's controls (issue 13): a thin HTTP mapping onto ingest's gRPC <c>Control</c> service — progress and
/// pause state, pause/resume, stop, settings, data-root browsing. Reads are open to whoever may open the page; every
/// write passes <see cref="OperatorWrites"/>: an operator's session (with accounts), or a local client with the
/// <see cref="OperatorHeader"/> (without), and lands in the audit log. Ingest not answering is a 503 naming it; bad
/// input a 400, invalid settings a 422 whose <c>errors</c> map holds the settings model's message per field.
/// </summary>
public static partial class OperatorEndpoints
{
    /// <summary>The header every write must carry (value 1): a browser sends it only from the console's own page.</summary>
    public const string OperatorHeader = "X-Anvil-Operator";

    public static IEndpointRouteBuilder MapOperatorApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/operator").WithTags("Operator");
        api.MapGet("/status", Status)
            .WithSummary("Every acquisition's progress through the chain (ingest's ListAcquisitions), whether the beamtime is paused, and whether this client may operate (canOperate: an operator, or a local client when the console has no accounts).");
        api.MapGet("/settings", GetSettings)
            .WithSummary("The settings version in force for new acquisitions (no acquisition) or for one acquisition; with several detectors configured, of one detector (detector=NAME, or the acquisition as its stream A_D).");
        api.MapGet("/detectors", Detectors)
            .WithSummary("The configured detectors (Pipeline:Detectors; none = one unnamed detector), each with its kind and the settings version in force for its acquisitions.");
        api.MapGet("/browse", Browse)
            .WithSummary("A folder below the data root (ingest's Browse; relative path, '' = the root; no way out of the root), folders first.");

        var write = api.MapGroup(string.Empty).AddEndpointFilter(OperatorWrites.GuardAndAudit);
        write.MapPost("/pause", (HttpRequest request, ControlConnection control) => SetPause(request, control, paused: true))
            .WithSummary($"Pauses automatic processing of one acquisition (JSON body {{\"acquisition\": \"name\"}}), or of the beamtime (no body, or no acquisition). Operators only (services/console README \"Access\").");
        write.MapPost("/resume", (HttpRequest request, ControlConnection control) => SetPause(request, control, paused: false))
            .WithSummary($"Resumes it (same body as pause); the chunks that waited are processed, each once. Operators only (services/console README \"Access\").");
        write.MapPost("/acquisitions/{acquisition}/stop", Stop)
            .WithSummary($"Finishes an acquisition with the chunks announced so far; a second stop is harmless. Operators only (services/console README \"Access\").");
        write.MapPost("/acquisitions/{acquisition}/reprocess", Reprocess)
            .WithSummary($"Reprocesses a finished acquisition in the reprocess pool (isolated from the live chain) as <acquisition>_r<k>, k the first unused, so no result is overwritten: JSON body of settings changes as for PUT /settings (fields left out keep the acquisition's). 422 with errors per field when they are not valid, 409 while it is still being acquired. Operators only (services/console README \"Access\").");
        write.MapPut("/settings", PutSettings)
            .WithSummary($"Changes the settings: JSON body {{acquisition?, detector?, poni?, mask?, dark?, flat?, npt?, unit?, method?, polarization?, radialRange?: [lo, hi], azimuthRangeDeg?: [lo, hi], dummy?, deltaDummy?, pressure?: \"Au 111\"}} (fields left out keep their value; null switches polarization, a range, dummy or delta dummy off, \"\" or \"off\" the pressure stage; errors are keyed by the settings model's field names: radial_range, azimuth_range_deg, delta_dummy, …). Nothing changes unless all are valid: else 422 with errors per field. Operators only (services/console README \"Access\").");
        app.MapConfigFileApi();
        return app;
    }

    // ------------------------------------------------------------------ endpoints

    private static Task<IResult> Status(HttpContext http, ControlConnection control, ConsoleAccess access, DetectorSet detectors) => control.Call(async (client, options) =>
    {
        var reply = await client.ListAcquisitionsAsync(new ListAcquisitionsRequest(), options);
        return Results.Ok(new
        {
            canOperate = access.CanOperate(http),
            beamtimePaused = reply.BeamtimePaused,
            acquisitions = reply.Acquisitions.Select(a => new
            {
                name = a.Acquisition,
                // With detectors configured, a stream A_D: its acquisition and detector; a reprocessing (A_r<k>, A_r<k>_D) names what it reprocesses.
                detector = detectors.Parse(a.Acquisition)?.Detector.Name,
                reprocessOf = ReprocessOf(a.Acquisition, detectors),
                state = a.State,
                chunksAnnounced = a.ChunksAnnounced,
                framesAnnounced = a.FramesAnnounced,
                framesStitched = a.FramesStitched,
                framesIntegrated = a.FramesIntegrated,
                framesMerged = a.FramesMerged,
                framesFailed = a.FramesFailed,
                failures = a.Failures,
                backlog = a.Backlog.Aggregate(0UL, (sum, b) => sum + b.Backlog),
                backlogs = a.Backlog.Select(b => new { dataSource = b.DataSource, group = b.Group, backlog = b.Backlog, inFlight = b.InFlight, acknowledged = b.Acknowledged }),
                paused = a.Paused,
                finished = a.Finished,
                done = a.Done,
                resultFile = a.ResultFile,
                settingsVersion = a.Settings?.Version,
                started = a.StartedUnixMs,
                lastActivity = a.LastActivityUnixMs,
            }),
        });
    });

    private static Task<IResult> GetSettings(string? acquisition, string? detector, ControlConnection control) => control.Call(async (client, options) =>
        Results.Ok(SettingsJson(await client.GetSettingsAsync(new GetSettingsRequest { Acquisition = acquisition ?? string.Empty, Detector = detector ?? string.Empty }, options))));

    private static Task<IResult> Detectors(ControlConnection control, DetectorSet detectors) => control.Call(async (client, options) =>
    {
        var list = new List<object>();
        foreach (var d in detectors.Detectors)
        {
            var version = await client.GetSettingsAsync(new GetSettingsRequest { Detector = d.Name }, options);
            list.Add(new { name = d.Name, kind = d.Kind.Name, settingsVersion = version.Version, settings = SettingsJson(version) });
        }

        return Results.Ok(new { detectors = list });
    });

    private static Task<IResult> Browse(string? path, string? pattern, ControlConnection control) => control.Call(async (client, options) =>
    {
        var reply = await client.BrowseAsync(new BrowseRequest { Path = path ?? string.Empty, Pattern = pattern ?? string.Empty }, options);
        return Results.Ok(new
        {
            path = reply.Path,
            dataRoot = reply.DataRoot,
            truncated = reply.Truncated,
            entries = reply.Entries.Select(e => new
            {
                name = e.Name,
                kind = e.Kind == EntryKind.Directory ? "folder" : "file",
                size = e.Size,
                modified = e.ModifiedUnixMs,
                path = e.Path,
            }),
        });
    });

    private static async Task<IResult> SetPause(HttpRequest request, ControlConnection control, bool paused)
    {
        string acquisition;
        try
        {
            acquisition = await ReadAcquisition(request);
        }
        catch (FormatException ex)
        {
            return Problem(400, "Bad request body", ex.Message);
        }

        return await control.Call(async (client, options) =>
        {
            var pauseRequest = new PauseRequest { Acquisition = acquisition };
            var state = paused ? await client.PauseAsync(pauseRequest, options) : await client.ResumeAsync(pauseRequest, options);
            return Results.Ok(new
            {
                acquisition = state.Acquisition,
                paused = state.Paused,
                beamtimePaused = state.BeamtimePaused,
                acquisitionPaused = state.AcquisitionPaused,
                changed = state.Changed,
                message = state.Message,
            });
        });
    }

    private static Task<IResult> Stop(string acquisition, ControlConnection control) => control.Call(async (client, options) =>
    {
        var reply = await client.StopAcquisitionAsync(new StopAcquisitionRequest { Acquisition = acquisition }, options);
        return Results.Ok(new
        {
            acquisition = reply.Acquisition,
            parts = reply.Parts,
            alreadyFinished = reply.AlreadyFinished,
            paused = reply.Paused,
            message = reply.Message,
        });
    });

    private static async Task<IResult> Reprocess(string acquisition, HttpRequest request, ControlConnection control, IOptions<PipelineOptions> pipeline)
    {
        JsonElement body;
        try
        {
            body = request.ContentLength is null or 0 && request.Headers.TransferEncoding.Count == 0
                ? JsonDocument.Parse("{}").RootElement.Clone()
                : await ReadObject(request);
        }
        catch (FormatException ex)
        {
            return Problem(400, "Bad request body", ex.Message);
        }

        var errors = new FieldErrors();
        var changes = ReadUpdate(body, errors.Add);
        changes.Acquisition = string.Empty;
        changes.Detector = string.Empty;
        return await control.Call(async (client, options) =>
        {
            // The settings of the reprocessing: the acquisition's, with the changes; validated here for messages per field.
            await CheckAgainstInForceAsync(client, options, new GetSettingsRequest { Acquisition = acquisition }, changes, DataRootOf(pipeline), errors);
            if (errors.Any)
            {
                return errors.Invalid();
            }

            var reply = await client.ReprocessAsync(new ReprocessRequest { Acquisition = acquisition, Settings = changes }, options);
            return Results.Ok(new
            {
                acquisition = reply.Acquisition,
                source = acquisition,
                chunks = reply.Chunks,
                resultFile = reply.Acquisition + ".nxs",
                settings = SettingsJson(reply.Settings),
                message = $"Reprocessing {acquisition} as {reply.Acquisition} ({reply.Chunks} chunk parts) in the reprocess pool; its result will be {reply.Acquisition}.nxs.",
            });
        });
    }

    private static async Task<IResult> PutSettings(HttpRequest request, ControlConnection control, IOptions<PipelineOptions> pipeline)
    {
        JsonElement body;
        try
        {
            body = await ReadObject(request);
        }
        catch (FormatException ex)
        {
            return Problem(400, "Bad request body", ex.Message);
        }

        var errors = new FieldErrors();
        var update = ReadUpdate(body, errors.Add);
        return await control.Call(async (client, options) =>
        {
            // The settings model validates here too (the same Apply ingest runs), so the page gets one message per
            // field; ingest validates again and publishes the version only if all is valid.
            await CheckAgainstInForceAsync(client, options, new GetSettingsRequest { Acquisition = update.Acquisition, Detector = update.Detector }, update, DataRootOf(pipeline), errors);
            if (errors.Any)
            {
                return errors.Invalid();
            }

            try
            {
                return Results.Ok(SettingsJson(await client.UpdateSettingsAsync(update, options)));
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument)
            {
                errors.AddFromIngest(ex.Status.Detail);
                return errors.Invalid();
            }
        });
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>What a reprocessing reprocesses: <c>A</c> for <c>A_r&lt;k&gt;</c>, <c>A_D</c> for <c>A_r&lt;k&gt;_D</c> (ingest's names); null for a live acquisition.</summary>
    internal static string? ReprocessOf(string stream, DetectorSet detectors)
    {
        var (acquisition, suffix) = detectors.Parse(stream) is { } p ? (p.Acquisition, "_" + p.Detector.Name) : (stream, string.Empty);
        var match = ReprocessingName().Match(acquisition);
        return match.Success ? match.Groups[1].Value + suffix : null;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^(.+)_r[0-9]+$")]
    private static partial System.Text.RegularExpressions.Regex ReprocessingName();

    /// <summary>
    /// Checks a settings change against the settings in force for <paramref name="inForce"/> (ingest's GetSettings), with
    /// the model's own <see cref="SettingsMessages.Apply"/> that ingest runs before it publishes: every problem is added
    /// to <paramref name="errors"/> under the model's field name (a field that already has a message from reading the
    /// request keeps that one), each message prefixed with <paramref name="prefix"/>. Returns the settings the change
    /// gives, or null when it is not valid. The one check behind the settings form, Reprocess and a configuration file.
    /// </summary>
    internal static async Task<(IntegrationSettings Current, IntegrationSettings? Next)> CheckAgainstInForceAsync(
        Control.ControlClient client, CallOptions options, GetSettingsRequest inForce, UpdateSettingsRequest change, string dataRoot, FieldErrors errors, string prefix = "")
    {
        var current = (await client.GetSettingsAsync(inForce, options)).ToSettings();
        try
        {
            return (current, current.Apply(change, dataRoot));
        }
        catch (SettingsException ex)
        {
            foreach (var e in ex.Errors.Where(e => !errors.Has(e.Field)))
            {
                errors.Add(e.Field, prefix + e.Message);
            }

            return (current, null);
        }
    }

    internal static string DataRootOf(IOptions<PipelineOptions> pipeline) => Path.GetFullPath(pipeline.Value.DataRoot);

    // The body as a JSON object; FormatException says what to send instead.
    private static async Task<JsonElement> ReadObject(HttpRequest request)
    {
        JsonElement body;
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            body = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The body is not JSON ({ex.Message}); send an object such as {{\"npt\": 2000}}.", ex);
        }

        return body.ValueKind == JsonValueKind.Object ? body : throw new FormatException("The body must be a JSON object such as {\"npt\": 2000}.");
    }

    // Reads the JSON fields into an UpdateSettingsRequest; a field of the wrong type gets the model's own message where the
    // value can be given to the model (npt out of range), else one saying what to give.
    private static UpdateSettingsRequest ReadUpdate(JsonElement body, Action<string, string> add)
    {
        var update = new UpdateSettingsRequest();
        foreach (var p in body.EnumerateObject())
        {
            var v = p.Value;
            switch (p.Name)
            {
                case "acquisition":
                    update.Acquisition = v.ValueKind == JsonValueKind.String ? v.GetString()! : string.Empty;
                    break;
                case "detector":
                    // With detectors configured: the detector whose settings change ("" = every detector, each from its own).
                    update.Detector = v.ValueKind == JsonValueKind.String ? v.GetString()! : string.Empty;
                    break;
                case "poni" or "mask" or "dark" or "flat":
                    if (v.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                    {
                        add(p.Name, $"{p.Name} must be a file path (a string), absolute or relative to the data root.");
                        break;
                    }

                    var path = (v.GetString() ?? string.Empty).Trim();
                    _ = p.Name switch
                    {
                        "poni" => update.Poni = path,
                        "mask" => update.Mask = path,
                        "dark" => update.Dark = path,
                        _ => update.Flat = path,
                    };
                    break;
                case "npt":
                    if (Number(v) is not { } n || n != Math.Floor(n))
                    {
                        add("npt", $"npt '{Text(v)}' is not a whole number: give {IntegrationSettings.MinNpt} to {IntegrationSettings.MaxNpt} radial bins.");
                    }
                    else if (n is < 0 or > uint.MaxValue)
                    {
                        // The model's message for a number the wire cannot carry.
                        var model = IntegrationSettings.Default with { Npt = (int)Math.Clamp(n, int.MinValue, int.MaxValue) };
                        add("npt", model.Validate(checkFiles: false).First(e => e.Field == "npt").Message);
                    }
                    else
                    {
                        update.Npt = (uint)n;
                    }

                    break;
                case "unit":
                    try
                    {
                        update.Unit = (Unit)RadialUnits.Parse(v.ValueKind == JsonValueKind.String ? v.GetString()! : Text(v));
                    }
                    catch (FormatException ex)
                    {
                        add("unit", ex.Message);
                    }

                    break;
                case "method":
                    try
                    {
                        update.Method = (Method)SplitMethods.Parse(v.ValueKind == JsonValueKind.String ? v.GetString()! : Text(v));
                    }
                    catch (FormatException ex)
                    {
                        add("method", ex.Message);
                    }

                    break;
                case "polarization":
                    if (v.ValueKind == JsonValueKind.Null || (v.ValueKind == JsonValueKind.String && v.GetString()!.Trim().Length == 0))
                    {
                        update.Reset.Add("polarization");
                    }
                    else if (Number(v) is { } factor)
                    {
                        update.Polarization = factor;
                    }
                    else
                    {
                        add("polarization", $"polarization '{Text(v)}' is not a number: give a factor from -1 to 1, or leave it empty to switch it off.");
                    }

                    break;
                case "radialRange" or "azimuthRangeDeg":
                    {
                        // [lo, hi], or null / [] to switch it off (pyFAI's automatic radial range, the full circle).
                        var field = p.Name == "radialRange" ? "radial_range" : "azimuth_range_deg";
                        if (v.ValueKind == JsonValueKind.Null || (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0))
                        {
                            update.Reset.Add(field);
                        }
                        else if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 2 && Number(v[0]) is { } lo && Number(v[1]) is { } hi)
                        {
                            _ = field == "radial_range"
                                ? update.RadialRange = new Anvil.Pipeline.V1.Range { Lo = lo, Hi = hi }
                                : update.AzimuthRangeDeg = new Anvil.Pipeline.V1.Range { Lo = lo, Hi = hi };
                        }
                        else
                        {
                            add(field, field == "radial_range"
                                ? $"radial range '{Text(v)}' is not two numbers: give the smallest and largest radial value in the unit of the settings, or leave both empty for the automatic range."
                                : $"azimuth range '{Text(v)}' is not two numbers: give two angles in degrees within -360..360, or leave both empty for the full circle.");
                        }

                        break;
                    }

                case "dummy" or "deltaDummy":
                    {
                        var field = p.Name == "dummy" ? "dummy" : "delta_dummy";
                        if (v.ValueKind == JsonValueKind.Null || (v.ValueKind == JsonValueKind.String && v.GetString()!.Trim().Length == 0))
                        {
                            update.Reset.Add(field);
                        }
                        else if (Number(v) is { } number)
                        {
                            _ = field == "dummy" ? update.Dummy = number : update.DeltaDummy = number;
                        }
                        else
                        {
                            add(field, $"{(field == "dummy" ? "dummy" : "delta dummy")} '{Text(v)}' is not a number: give a finite number, or leave it empty to switch it off.");
                        }

                        break;
                    }

                case "pressure":
                    if (v.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                    {
                        add("pressure", "pressure must be text such as \"Au 111\" (MARKER HKL [LO:HI] [vinet|bm3]), or empty / off to switch it off.");
                        break;
                    }

                    update.Pressure = (v.GetString() ?? string.Empty).Trim();
                    break;
                default:
                    add(p.Name, $"'{p.Name}' is not a setting the console changes: give detector, poni, mask, dark, flat, npt, unit, method, polarization, radialRange, azimuthRangeDeg, dummy, deltaDummy or pressure.");
                    break;
            }
        }

        return update;
    }

    private static double? Number(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number => v.GetDouble(),
        JsonValueKind.String when double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) => d,
        _ => null,
    };

    private static string Text(JsonElement v) => v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText();

    private static async Task<string> ReadAcquisition(HttpRequest request)
    {
        if (request.ContentLength == 0 || !(request.ContentType ?? string.Empty).Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return string.Empty;
        }

        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("acquisition", out var a) && a.ValueKind == JsonValueKind.String
                ? a.GetString()!
                : string.Empty;
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The body is not JSON ({ex.Message}); send {{\"acquisition\": \"name\"}}, or nothing for the whole beamtime.", ex);
        }
    }

    internal static object SettingsJson(SettingsVersion v) => new
    {
        version = v.Version,
        scope = v.Scope,
        detector = v.Detector,
        poni = v.Poni,
        mask = v.Mask,
        dark = v.Dark,
        flat = v.Flat,
        npt = v.Npt,
        unit = ((RadialUnit)v.Unit).Format(),
        method = ((SplitMethod)v.Method).Format(),
        polarization = v.HasPolarization ? v.Polarization : (double?)null,
        radialRange = v.RadialRange is { } r ? new[] { r.Lo, r.Hi } : null,
        azimuthRangeDeg = v.AzimuthRangeDeg is { } a ? new[] { a.Lo, a.Hi } : null,
        dummy = v.HasDummy ? v.Dummy : (double?)null,
        deltaDummy = v.HasDeltaDummy ? v.DeltaDummy : (double?)null,
        pressure = v.Pressure.Length == 0 ? string.Empty : PressureSettings.FromJson(v.Pressure).ToSpec(),
    };

    internal static IResult Problem(int status, string title, string detail) => Results.Problem(detail: detail, statusCode: status, title: title);
}

/// <summary>
/// Problems with a settings change, per field as the settings model names them (<c>npt</c>, <c>radial_range</c>, …):
/// answered as a 422 problem whose <c>errors</c> map holds them and whose detail says nothing was changed.
/// </summary>
public sealed class FieldErrors
{
    private static readonly string[] Fields = ["poni", "mask", "dark", "flat", "npt", "unit", "method", "polarization", "radial_range", "azimuth_range_deg", "dummy", "delta_dummy", "pressure"];
    private readonly Dictionary<string, List<string>> byField = new(StringComparer.Ordinal);

    public bool Any => byField.Count > 0;

    public bool Has(string field) => byField.ContainsKey(field);

    public void Add(string field, string message) => (byField.TryGetValue(field, out var list) ? list : byField[field] = []).Add(message);

    /// <summary>Ingest's INVALID_ARGUMENT sentence, under the field it starts with ("npt 1 is out of range: …"), else under <c>settings</c>.</summary>
    public void AddFromIngest(string detail)
    {
        var field = detail.Split(' ', 2)[0].Trim('\'');
        Add(Fields.Contains(field) ? field : "settings", detail);
    }

    /// <summary>Every message, in the order added per field.</summary>
    public IEnumerable<string> Messages => byField.SelectMany(e => e.Value);

    /// <summary>The map as the 422 problem's <c>errors</c> holds it.</summary>
    public Dictionary<string, string[]> ToJson() => byField.ToDictionary(e => e.Key, e => e.Value.ToArray());

    /// <summary>The 422 problem: <c>errors</c> per field, nothing changed.</summary>
    public IResult Invalid() => Results.ValidationProblem(
        ToJson(),
        detail: "Nothing was changed: " + string.Join(" ", Messages),
        statusCode: 422,
        title: "Settings not valid");
}

/// <summary>
/// The console's one channel to ingest's <c>Control</c> service (<see cref="ConsoleOptions.Ingest"/>), and the mapping of
/// its failures onto HTTP problems: not answering → 503, bad input → 400, too early → 409, unknown → 404.
/// </summary>
/// <remarks>
/// Each call carries the pipeline's token (<see cref="PipelineOptions.BrokerToken"/>, the file the suite passes every
/// service) when one is configured: an ingest that listens beyond loopback takes Control changes only with a token of
/// access <c>control</c> (README "Reliability").
/// </remarks>
public sealed class ControlConnection(IOptions<ConsoleOptions> options, IOptions<PipelineOptions> pipeline) : IDisposable
{
    private readonly Lazy<Grpc.Net.Client.GrpcChannel> channel = new(() => Grpc.Net.Client.GrpcChannel.ForAddress(options.Value.Ingest));

    /// <summary>Runs one call with the configured deadline; every failure becomes a problem response.</summary>
    public async Task<IResult> Call(Func<Control.ControlClient, CallOptions, Task<IResult>> call)
    {
        var address = options.Value.Ingest;
        try
        {
            var headers = pipeline.Value.ResolveBrokerToken() is { Length: > 0 } token ? new Metadata { { "authorization", "Bearer " + token } } : null;
            return await call(new Control.ControlClient(channel.Value), new CallOptions(headers, deadline: DateTime.UtcNow + options.Value.ControlTimeout));
        }
        catch (Exception ex) when (ex is UriFormatException or ArgumentException && !channel.IsValueCreated)
        {
            return OperatorEndpoints.Problem(503, "Ingest is not configured", $"Console:Ingest is '{address}', not an address such as http://127.0.0.1:5101: the operator controls need ingest's address.");
        }
        catch (RpcException ex)
        {
            return ex.StatusCode switch
            {
                StatusCode.InvalidArgument or StatusCode.OutOfRange => OperatorEndpoints.Problem(400, "Not accepted", ex.Status.Detail),
                StatusCode.FailedPrecondition => OperatorEndpoints.Problem(409, "Not possible now", ex.Status.Detail),
                StatusCode.NotFound => OperatorEndpoints.Problem(404, "Not found", ex.Status.Detail),
                StatusCode.Unauthenticated or StatusCode.PermissionDenied => OperatorEndpoints.Problem(403, "Ingest refused the change", ex.Status.Detail),
                StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled => OperatorEndpoints.Problem(503, "Ingest is not answering",
                    $"The console could not reach ingest's Control service at {address} ({ex.Status.Detail}). Is the suite running (./anvil up)? Nothing was changed."),
                _ => OperatorEndpoints.Problem(502, "Ingest failed", $"Ingest's Control service at {address} answered {ex.StatusCode}: {ex.Status.Detail}"),
            };
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (channel.IsValueCreated)
        {
            channel.Value.Dispose();
        }
    }
}
