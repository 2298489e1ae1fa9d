namespace Anvil.Console.Service.Api;

/// <summary>
/// The page and its scripts and styles, embedded in the assembly (wwwroot/**): the console serves everything a
/// browser needs itself, nothing comes from a CDN, and there is no build step.
/// </summary>
public static class ConsoleAssets
{
    private static readonly Dictionary<string, string> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
    };

    public static IEndpointRouteBuilder MapConsoleAssets(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Asset("index.html")).ExcludeFromDescription();
        app.MapGet("/assets/{name}", (string name) => Asset(name)).ExcludeFromDescription();
        return app;
    }

    private static IResult Asset(string name)
    {
        var assembly = typeof(ConsoleAssets).Assembly;
        using var stream = assembly.GetManifestResourceStream("wwwroot/" + name);
        if (stream is null || name.Contains('/', StringComparison.Ordinal))
        {
            return Results.Problem(detail: $"No asset '{name}'.", statusCode: 404, title: "Not found");
        }

        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var type = Types.TryGetValue(Path.GetExtension(name), out var t) ? t : "application/octet-stream";
        return Results.Bytes(copy.ToArray(), type);
    }
}
