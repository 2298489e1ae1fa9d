using System.Text.Json;
using System.Text.Json.Nodes;
using Anvil.Console.Service.Api;
using Anvil.Pipeline.V1;

namespace Anvil.Console.Service.Access;

/// <summary>
/// The filter on every operator write (pause, resume, stop, settings): refuses it unless this request may operate
/// (<see cref="ConsoleAccess.CanOperate"/>: an operator's session, or without accounts a local client with the
/// <see cref="OperatorEndpoints.OperatorHeader"/>), and records it — refused or done — in the <see cref="AuditLog"/>
/// with who, from where, which acquisition, what changed (settings: each field before and after) and the outcome.
/// </summary>
public static class OperatorWrites
{
    public static async ValueTask<object?> GuardAndAudit(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var access = http.RequestServices.GetRequiredService<ConsoleAccess>();
        var audit = http.RequestServices.GetRequiredService<AuditLog>();
        var action = http.Request.Path.Value![(http.Request.Path.Value!.LastIndexOf('/') + 1)..];
        var body = await ReadBody(http.Request);
        var acquisition = http.Request.RouteValues.TryGetValue("acquisition", out var a) ? a?.ToString()
            : body?["acquisition"] is JsonValue named && named.TryGetValue<string>(out var text) ? text : null;
        var detector = body?["detector"] is JsonValue d && d.TryGetValue<string>(out var dn) && dn.Length > 0 ? dn : null;
        var (user, role) = ConsoleAccess.Who(http);
        var entry = new AuditEntry
        {
            User = user ?? "(local)",
            Role = role ?? (access.LoginRequired ? string.Empty : "operator"),
            Remote = ConsoleAccess.Remote(http),
            Action = action,
            // A change of one detector's settings (several detectors) names the detector where an acquisition would stand.
            Acquisition = !string.IsNullOrEmpty(acquisition) ? acquisition : detector is not null ? $"detector {detector}" : null,
        };

        if (Refusal(http, access) is { } refusal)
        {
            audit.Write(entry with { Status = 403, Result = "refused: " + refusal.Detail });
            return Results.Problem(detail: refusal.Detail, statusCode: 403, title: refusal.Title);
        }

        var before = action == "settings" ? await Settings(http, acquisition, detector) : null;
        var result = await next(context);
        var status = (result as IStatusCodeHttpResult)?.StatusCode ?? 200;
        var value = result is IValueHttpResult v ? JsonSerializer.SerializeToNode(v.Value) as JsonObject : null;
        audit.Write(entry with
        {
            Status = status,
            // Settings: each field before and after; a configuration file: the changes it applied (per detector).
            Changes = status != 200 || value is null ? null
                : action == "settings" ? (before is not null ? Diff(before, value) : null)
                : action == "config" && value["changes"] is JsonObject { Count: > 0 } applied ? applied.DeepClone().AsObject() : null,
            Result = value?["message"]?.ToString() ?? value?["detail"]?.ToString() ?? (status == 200 && action == "settings" ? $"settings version {value?["version"]}" : status.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        });
        return result;
    }

    private static (string Title, string Detail)? Refusal(HttpContext http, ConsoleAccess access)
    {
        if (access.LoginRequired)
        {
            return access.CanOperate(http)
                ? null
                : ("Viewers cannot operate", $"'{http.User.Identity?.Name}' is a viewer: pausing, resuming, stopping and changing settings need an operator account. Nothing was changed.");
        }

        if (!access.CanOperate(http))
        {
            var remote = http.Connection.RemoteIpAddress?.ToString() ?? "an unknown address";
            return ("Operator actions need a login", $"This request came from {remote}{(ConsoleAccess.ViaProxy(http.Request) ? " through a proxy" : string.Empty)}. This console has no accounts, so operating the run (pause, resume, stop, settings) is accepted only from the machine it runs on (loopback). Other PCs can view, not operate; add accounts (services/console README \"Access\") to operate from them.");
        }

        if (!http.Request.Headers.TryGetValue(OperatorEndpoints.OperatorHeader, out var header) || header.ToString() != "1")
        {
            return ("Missing operator header", $"Operator actions must carry the header '{OperatorEndpoints.OperatorHeader}: 1' (the console's page sets it); a request without it, such as a form posted from another site, is refused.");
        }

        return null;
    }

    // The JSON body, read once and rewound so the endpoint reads it again; null when there is none or it is not JSON.
    private static async Task<JsonObject?> ReadBody(HttpRequest request)
    {
        if (request.ContentLength == 0 || !(request.ContentType ?? string.Empty).Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        request.EnableBuffering();
        try
        {
            return await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
        finally
        {
            request.Body.Position = 0;
        }
    }

    // The version in force before the change, in the shape the endpoint answers with.
    private static async Task<JsonObject?> Settings(HttpContext http, string? acquisition, string? detector)
    {
        JsonObject? settings = null;
        await http.RequestServices.GetRequiredService<ControlConnection>().Call(async (client, options) =>
        {
            var version = await client.GetSettingsAsync(new GetSettingsRequest { Acquisition = acquisition ?? string.Empty, Detector = detector ?? string.Empty }, options);
            settings = JsonSerializer.SerializeToNode(OperatorEndpoints.SettingsJson(version)) as JsonObject;
            return Results.Ok();
        });
        return settings;
    }

    /// <summary>The fields that differ between two settings versions in the API's shape: field → {from, to}.</summary>
    internal static JsonObject Diff(JsonObject before, JsonObject after)
    {
        var changes = new JsonObject();
        foreach (var (field, value) in after)
        {
            if (field is "version" or "scope" or "detector")
            {
                continue;
            }

            var old = before[field];
            if (!JsonNode.DeepEquals(old, value))
            {
                changes[field] = new JsonObject { ["from"] = old?.DeepClone(), ["to"] = value?.DeepClone() };
            }
        }

        return changes;
    }
}
