using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Anvil.Console.Service.Access;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Workers;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Anvil.Console.Service.Api;

/// <summary>
/// Loading an experiment configuration file (the file <c>./anvil up --config</c> takes) into the running suite (issue 13,
/// item 1): a file below the data root, read by the one reader (<see cref="PipelineConfigFile"/>, as the CLI reads it),
/// its integration settings (the pipeline's, or each configured detector's) checked against the versions in force with
/// the settings form's own check (<see cref="OperatorEndpoints.CheckAgainstInForceAsync"/>) and published through
/// ingest's UpdateSettings, all or nothing. What the file says that a running suite cannot take (folders, addresses,
/// the detectors' kinds and patterns, timeouts, …) is listed as needing a restart, never applied and never ignored.
/// <c>GET /api/operator/config?path=</c> shows what it would change; <c>POST /api/operator/config</c> applies it (operators only).
/// </summary>
public static partial class ConfigFileEndpoints
{
    /// <summary>The largest configuration file read (a pipeline configuration is a few kilobytes).</summary>
    public const long MaxBytes = 1 << 20;

    public static IEndpointRouteBuilder MapConfigFileApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/operator").WithTags("Operator");
        api.MapGet("/config", Preview)
            .WithSummary("What applying an experiment configuration file (the file ./anvil up --config takes; path relative to the data root) would change: the integration settings of every acquisition (per detector when detectors are configured), from → to, the settings model's messages per field when they are not valid, and what needs a restart. Changes nothing.");
        api.MapPost("/config", Apply).AddEndpointFilter(OperatorWrites.GuardAndAudit)
            .WithSummary("Applies an experiment configuration file's integration settings (JSON body {\"path\": \"config/ramp.json\"}, relative to the data root) through ingest's UpdateSettings, all or nothing: 422 with errors per field when any is not valid, nothing changed. Parts that cannot change while the suite runs are listed under restart. Operators only (services/console README \"Access\").");
        return app;
    }

    private static async Task<IResult> Preview(string? path, ControlConnection control, IOptions<PipelineOptions> pipeline, DetectorSet detectors, IConfiguration configuration)
    {
        if (Open(path, pipeline.Value, out var file, out var relative) is { } refused)
        {
            return refused;
        }

        return await control.Call(async (client, options) =>
        {
            var plan = await PlanAsync(file, relative, client, options, pipeline, detectors, configuration);
            return Results.Ok(plan.Json(applied: false));
        });
    }

    private static async Task<IResult> Apply(HttpRequest request, ControlConnection control, IOptions<PipelineOptions> pipeline, DetectorSet detectors, IConfiguration configuration)
    {
        string? path;
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            path = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("path", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        }
        catch (JsonException ex)
        {
            return OperatorEndpoints.Problem(400, "Bad request body", $"The body is not JSON ({ex.Message}); send {{\"path\": \"config/ramp.json\"}}, the file's path below the data root.");
        }

        if (Open(path, pipeline.Value, out var file, out var relative) is { } refused)
        {
            return refused;
        }

        return await control.Call(async (client, options) =>
        {
            var plan = await PlanAsync(file, relative, client, options, pipeline, detectors, configuration);
            if (plan.Errors.Any)
            {
                return plan.Errors.Invalid();
            }

            // All valid: publish every target's version. Ingest validates each again; the checks above are the same
            // code on the same files, so a refusal here means something changed in between (said, with what was applied).
            foreach (var target in plan.Targets.Where(t => t.Changes.Count > 0))
            {
                try
                {
                    target.Applied = await client.UpdateSettingsAsync(target.Request, options);
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument)
                {
                    var errors = new FieldErrors();
                    var done = plan.Targets.Where(t => t.Applied is not null).Select(t => t.Label).ToList();
                    errors.AddFromIngest((target.Detector.Length > 0 ? $"detector {target.Detector}: " : string.Empty) + ex.Status.Detail
                        + (done.Count > 0 ? $" (already applied: {string.Join(", ", done)})" : string.Empty));
                    return errors.Invalid();
                }
            }

            return Results.Ok(plan.Json(applied: true));
        });
    }

    // The file below the data root, or a problem: a path that leaves the root, a folder, a missing or oversized file.
    private static IResult? Open(string? path, PipelineOptions pipeline, out string file, out string relative)
    {
        file = relative = string.Empty;
        var root = new DataRoot(pipeline.DataRoot);
        if (string.IsNullOrWhiteSpace(path))
        {
            return OperatorEndpoints.Problem(400, "No file named", "Give the configuration file's path below the data root (path), e.g. config/ramp.json; Browse… lists the data root.");
        }

        try
        {
            relative = root.ToRelative(path.Trim());
        }
        catch (ArgumentException ex)
        {
            return OperatorEndpoints.Problem(400, "Not below the data root", ex.Message.Split(" (Parameter", 2)[0]);
        }

        file = root.ToFull(relative);
        var info = new FileInfo(file);
        return !info.Exists
            ? OperatorEndpoints.Problem(404, "No such file", $"{relative} does not exist below the data root {root.FullPath} (or is a folder): pick a pipeline configuration file, e.g. with Browse….")
            : info.Length > MaxBytes
                ? OperatorEndpoints.Problem(400, "Not a pipeline configuration", $"{relative} has {info.Length} bytes; a pipeline configuration has a few kilobytes (at most {MaxBytes}).")
                : null;
    }

    /// <summary>One settings version the file asks for: the pipeline's (detector ""), or one detector's.</summary>
    private sealed class Target(string detector, UpdateSettingsRequest request)
    {
        public string Detector { get; } = detector;

        public UpdateSettingsRequest Request { get; } = request;

        public string Label => Detector.Length > 0 ? $"detector {Detector}" : "every acquisition";

        public ulong InForce { get; set; }

        public JsonObject Changes { get; set; } = [];

        public SettingsVersion? Applied { get; set; }
    }

    private sealed record Restart(string Key, string? InFile, string? Running);

    private sealed class Plan(string relative)
    {
        public List<Target> Targets { get; } = [];

        public List<Restart> Restarts { get; } = [];

        public FieldErrors Errors { get; } = new();

        public object Json(bool applied)
        {
            var changed = Targets.Where(t => t.Changes.Count > 0).ToList();
            var restart = Restarts.Count > 0 ? $" {Restarts.Count} value(s) need a restart of the suite (./anvil up --config {relative}): {string.Join(", ", Restarts.Select(r => r.Key))}." : string.Empty;
            var what = changed.Count == 0
                ? "The integration settings in force already equal the file's: nothing to change."
                : applied
                    ? $"Applied {relative}: {string.Join("; ", changed.Select(t => $"{t.Label} now at version {t.Applied?.Version}"))}, from each acquisition's next chunk."
                    : $"Applying {relative} would change {string.Join("; ", changed.Select(t => $"{t.Label} ({string.Join(", ", t.Changes.Select(c => c.Key))})"))}.";
            var changes = new JsonObject();
            foreach (var t in changed)
            {
                foreach (var (field, change) in t.Changes)
                {
                    changes[t.Detector.Length > 0 ? $"{t.Detector}.{field}" : field] = change!.DeepClone();
                }
            }

            return new
            {
                path = relative,
                valid = !Errors.Any,
                applied,
                targets = Targets.Select(t => new
                {
                    detector = t.Detector,
                    label = t.Label,
                    inForce = t.InForce,
                    version = t.Applied?.Version,
                    changes = t.Changes,
                }),
                changes,
                errors = Errors.ToJson(),
                restart = Restarts.Select(r => new
                {
                    key = r.Key,
                    inFile = r.InFile,
                    running = r.Running,
                    message = $"{r.Key}: {(r.InFile is null ? "not in the file" : $"'{r.InFile}'")} in the file, {(r.Running is null ? "not set" : $"'{r.Running}'")} in the running suite; needs a restart",
                }),
                message = (Errors.Any ? "Not valid, nothing would change: " + string.Join(" ", Errors.Messages) : what) + restart,
            };
        }
    }

    // Reads the file and works out, per target, the change and whether it is valid; nothing is changed here.
    private static async Task<Plan> PlanAsync(string file, string relative, Control.ControlClient client, CallOptions options,
        IOptions<PipelineOptions> pipeline, DetectorSet running, IConfiguration configuration)
    {
        var plan = new Plan(relative);
        PipelineConfigFile config;
        PipelineOptions fromFile;
        try
        {
            config = PipelineConfigFile.Read(file, environment: false);
            fromFile = config.Options;
        }
        catch (PipelineConfigException ex)
        {
            // A value that does not bind names its key: under the settings model's field name when it is one.
            var key = BindingKey().Match(ex.Message) is { Success: true } m ? m.Groups[1].Value : null;
            plan.Errors.Add(key is null ? "file" : FieldOf(key), ex.Message);
            return plan;
        }

        // What a running suite cannot take: every value of the file that is no integration setting and differs from the
        // suite's (the console runs with the suite's pipeline configuration), and detectors the suite has and the file lacks.
        var suite = PipelineConfigFile.From(configuration.GetSection(PipelineOptions.Section), Environment.CurrentDirectory);
        var suiteValues = new Dictionary<string, string>(suite.Values, StringComparer.OrdinalIgnoreCase);
        var fileValues = new Dictionary<string, string>(config.Values, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in config.Values.Where(kv => !PipelineConfigFile.IsRuntimeSetting(kv.Key)).OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var now = suiteValues.GetValueOrDefault(key);
            if (!SameValue(key, value, now) && !SameOption(key, fromFile, pipeline.Value))
            {
                plan.Restarts.Add(new Restart(key, value, now ?? OptionText(key, pipeline.Value)));
            }
        }

        foreach (var (key, value) in suite.Values.Where(kv => kv.Key.StartsWith("Detectors:", StringComparison.OrdinalIgnoreCase) && !PipelineConfigFile.IsRuntimeSetting(kv.Key) && !fileValues.ContainsKey(kv.Key)))
        {
            plan.Restarts.Add(new Restart(key, null, value));
        }

        // The settings the file asks for: each running detector's from the file's Detectors section, or the pipeline's.
        var targets = new List<(string Detector, IntegrationSettings Settings)>();
        try
        {
            if (running.Configured)
            {
                // Names, kinds and PONIs checked here; the settings below, per field, against each detector's version in force.
                var named = DetectorSet.From(fromFile, validateSettings: false);
                targets.AddRange(running.Detectors.Select(d => named.Find(d.Name)).OfType<Detector>().Select(d => (d.Name, d.Settings)));
            }
            else
            {
                targets.Add((string.Empty, fromFile.IntegrationDefaults()));
            }
        }
        catch (FormatException ex)
        {
            plan.Errors.Add(ex.Message.StartsWith("method", StringComparison.OrdinalIgnoreCase) ? "method" : "unit", ex.Message);
        }
        catch (ArgumentException ex)
        {
            plan.Errors.Add("detectors", ex.Message);
        }

        var dataRoot = OperatorEndpoints.DataRootOf(pipeline);
        foreach (var (detector, settings) in targets)
        {
            var target = new Target(detector, settings.ToReplacement(detector));
            plan.Targets.Add(target);
            var prefix = detector.Length > 0 ? $"detector {detector}: " : string.Empty;
            if (settings.Npt <= 0)
            {
                // The wire's npt is unsigned: the model's message for the file's number.
                plan.Errors.Add("npt", prefix + settings.Validate(checkFiles: false).First(e => e.Field == "npt").Message);
            }

            var inForce = await client.GetSettingsAsync(new GetSettingsRequest { Detector = detector }, options);
            target.InForce = inForce.Version;
            var (_, next) = await OperatorEndpoints.CheckAgainstInForceAsync(client, options, new GetSettingsRequest { Detector = detector }, target.Request, dataRoot, plan.Errors, prefix);
            if (next is not null)
            {
                target.Changes = OperatorWrites.Diff(
                    (JsonObject)JsonSerializer.SerializeToNode(OperatorEndpoints.SettingsJson(inForce))!,
                    (JsonObject)JsonSerializer.SerializeToNode(OperatorEndpoints.SettingsJson(next.ToMessage()))!);
            }
        }

        return plan;
    }

    // Equal as the suite would use them: paths compared as full paths, other values as written.
    private static bool SameValue(string key, string? a, string? b) =>
        a is not null && b is not null && (PipelineConfigFile.IsPath(key) && a.Length > 0 && b.Length > 0
            ? Path.GetFullPath(a) == Path.GetFullPath(b)
            : string.Equals(a, b, StringComparison.Ordinal));

    // A top-level key (StitchBatch, Beamtime, …) bound to the same value in both (a key the suite left at its default
    // and the file writes out is no change); paths as full paths.
    private static bool SameOption(string key, PipelineOptions a, PipelineOptions b) =>
        !key.Contains(':', StringComparison.Ordinal) && OptionText(key, a) is { } x && OptionText(key, b) is { } y
        && (PipelineConfigFile.IsPath(key) ? Path.GetFullPath(x) == Path.GetFullPath(y) : x == y);

    private static string? OptionText(string key, PipelineOptions options) =>
        key.Contains(':', StringComparison.Ordinal) ? null
        : typeof(PipelineOptions).GetProperty(key, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase)?.GetValue(options) switch
        {
            null => null,
            string text => text,
            var other => JsonSerializer.Serialize(other),
        };

    // A configuration key as the settings model names the field: Npt → npt, Detectors:lambda2:Npt → npt.
    private static string FieldOf(string key)
    {
        var last = key.Split(':')[^1].ToLowerInvariant();
        return key.Contains("Pressure", StringComparison.OrdinalIgnoreCase) ? "pressure" : last;
    }

    [GeneratedRegex(@"'Pipeline:([^']+)'")]
    private static partial Regex BindingKey();
}
