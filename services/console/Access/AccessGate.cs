using System.Net;
using Microsoft.AspNetCore.Antiforgery;

namespace Anvil.Console.Service.Access;

/// <summary>
/// The console's front door, after authentication and before every endpoint.
/// <list type="bullet">
/// <item>gRPC health (<c>grpc.health.v1.Health</c>) is always open: probes, the suite and Kubernetes call it.</item>
/// <item>Without accounts: only requests that arrived on a loopback address are served (a console bound elsewhere
/// without accounts refuses to start, <see cref="BindCheck"/>; this is the second line of that rule).</item>
/// <item>With accounts: the login page and its stylesheet are open; everything else needs a session (401 problem for the
/// API, a redirect to /login for pages), and every state-changing request (POST, PUT, PATCH, DELETE) must carry the
/// antiforgery token of that session in <see cref="CsrfHeader"/> (403 otherwise).</item>
/// </list>
/// Roles are checked where the writes are (<see cref="OperatorWrites"/>), so the rule sits beside what it protects.
/// </summary>
public sealed class AccessGate(RequestDelegate next, ConsoleAccess access, IAntiforgery antiforgery)
{
    /// <summary>The header the page sends the antiforgery request token in.</summary>
    public const string CsrfHeader = "X-Anvil-CSRF";

    private static readonly string[] PublicAssets = ["/assets/console.css", "/assets/access.css"];

    public async Task InvokeAsync(HttpContext http)
    {
        var path = http.Request.Path;
        if (path.StartsWithSegments("/grpc.health.v1.Health", StringComparison.Ordinal))
        {
            await next(http);
            return;
        }

        if (!access.LoginRequired)
        {
            if (http.Connection.LocalIpAddress is { } local && !IPAddress.IsLoopback(local.IsIPv4MappedToIPv6 ? local.MapToIPv4() : local))
            {
                await Refuse(http, 403, "Console has no accounts", $"This console answers only on loopback because it has no accounts; this request reached it on {local}. {BindCheck.HowToAddAccounts}");
                return;
            }

            await next(http);
            return;
        }

        if (path.Equals("/login", StringComparison.Ordinal) || (HttpMethods.IsGet(http.Request.Method) && PublicAssets.Contains(path.Value, StringComparer.Ordinal)))
        {
            await next(http);
            return;
        }

        if (http.User.Identity?.IsAuthenticated != true)
        {
            if (HttpMethods.IsGet(http.Request.Method) && !path.StartsWithSegments("/api", StringComparison.Ordinal) && !path.StartsWithSegments("/openapi", StringComparison.Ordinal))
            {
                http.Response.Redirect("/login?returnUrl=" + Uri.EscapeDataString(http.Request.PathBase + path + http.Request.QueryString));
                return;
            }

            await Refuse(http, 401, "Login required", "This console requires a login: sign in at /login (the page does this for you), then send the session cookie.");
            return;
        }

        if (!(HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method) || HttpMethods.IsOptions(http.Request.Method)))
        {
            try
            {
                await antiforgery.ValidateRequestAsync(http);
            }
            catch (AntiforgeryValidationException)
            {
                await Refuse(http, 403, "Missing or wrong CSRF token", $"A change must carry this session's token in the header {CsrfHeader} (the console's page sends it; GET /api/access/me gives it to scripts). Nothing was changed.");
                return;
            }
        }

        await next(http);
    }

    private static Task Refuse(HttpContext http, int status, string title, string detail) =>
        Results.Problem(detail: detail, statusCode: status, title: title).ExecuteAsync(http);
}
