using System.Net;
using Anvil.Console.Service.Api;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Anvil.Console.Service.Access;

/// <summary>
/// Login, logout, who am I, and the audit log's read endpoint. The login page is the console's own (wwwroot/login.html,
/// its stylesheet), served with an antiforgery token in the form, so a page elsewhere cannot sign a browser in either.
/// </summary>
public static class LoginEndpoints
{
    private static readonly Lazy<string> LoginTemplate = new(() =>
    {
        using var stream = typeof(LoginEndpoints).Assembly.GetManifestResourceStream("wwwroot/login.html")!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public static IEndpointRouteBuilder MapConsoleLogin(this IEndpointRouteBuilder app)
    {
        app.MapGet("/login", (HttpContext http, ConsoleAccess access, IAntiforgery antiforgery, string? returnUrl) =>
            access.LoginRequired ? LoginPage(http, antiforgery, 200, message: null, name: null, returnUrl) : Results.Redirect("/"))
            .ExcludeFromDescription();
        app.MapPost("/login", Login).ExcludeFromDescription();
        app.MapPost("/logout", Logout).WithTags("Access")
            .WithSummary($"Ends this session (its cookie is worthless afterwards). Header {AccessGate.CsrfHeader}.");

        var api = app.MapGroup("/api/access").WithTags("Access");
        api.MapGet("/me", Me)
            .WithSummary($"Who is signed in (user, role), whether a login is required, whether this client may operate, and this session's CSRF token for the header {AccessGate.CsrfHeader}.");
        api.MapGet("/audit", (AuditLog audit, int? limit) => Results.Ok(new { path = audit.Path, entries = audit.Newest(Math.Clamp(limit ?? 50, 1, 1000)) }))
            .WithSummary("The newest entries of the audit log (who changed what, refusals, logins), newest first; limit 1–1000, default 50.");
        return app;
    }

    private static async Task<IResult> Login(HttpContext http, ConsoleAccess access, IAntiforgery antiforgery, LoginThrottle throttle, AuditLog audit, IOptions<AccessOptions> options)
    {
        if (!access.LoginRequired)
        {
            return Results.Redirect("/");
        }

        if (!http.Request.HasFormContentType)
        {
            return OperatorEndpoints.Problem(400, "Not a login form", "POST /login takes the login page's form (application/x-www-form-urlencoded: name, password, the form's token).");
        }

        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var name = form["name"].ToString().Trim();
        var returnUrl = form["returnUrl"].ToString();
        try
        {
            await antiforgery.ValidateRequestAsync(http);
        }
        catch (AntiforgeryValidationException)
        {
            return LoginPage(http, antiforgery, 400, "The login form was out of date or did not come from this console: please sign in again.", name, returnUrl);
        }

        var remote = ConsoleAccess.Remote(http);
        var o = options.Value;
        if (throttle.LockedFor(name, remote) is { } wait)
        {
            audit.Write(new AuditEntry { User = name, Remote = remote, Action = "login-failed", Status = 429, Result = "locked out" });
            return LoginPage(http, antiforgery, 429, $"Too many failed logins for '{name}' from this address: try again in {Math.Ceiling(wait.TotalSeconds):0} s.", name, returnUrl);
        }

        var user = access.Check(name, form["password"].ToString());
        if (user is null)
        {
            var locked = throttle.Fail(name, remote, o.MaxFailedLogins, o.LoginLockout);
            await Task.Delay(o.FailedLoginDelay, http.RequestAborted);
            audit.Write(new AuditEntry { User = name, Remote = remote, Action = "login-failed", Status = 401, Result = locked ? "wrong name or password; locked out" : "wrong name or password" });
            return LoginPage(http, antiforgery, 401, locked
                ? $"Wrong name or password. After {o.MaxFailedLogins} failed logins '{name}' is locked out from this address for {o.LoginLockout.TotalMinutes:0.#} min."
                : "Wrong name or password.", name, returnUrl);
        }

        throttle.Succeed(name, remote);
        var principal = ConsoleAccess.Principal(user);
        await http.SignInAsync(ConsoleAccess.Scheme, principal, new AuthenticationProperties { IsPersistent = false });
        audit.Write(new AuditEntry { User = user.Name, Role = user.ParsedRole.ToString().ToLowerInvariant(), Remote = remote, Action = "login", Status = 200, Result = "signed in" });
        return Results.Redirect(LocalUrl(returnUrl));
    }

    private static async Task<IResult> Logout(HttpContext http, ConsoleAccess access, AuditLog audit)
    {
        if (!access.LoginRequired)
        {
            return OperatorEndpoints.Problem(404, "No accounts", "This console has no accounts, so there is nothing to log out of.");
        }

        var (user, role) = ConsoleAccess.Who(http);
        await http.SignOutAsync(ConsoleAccess.Scheme);
        audit.Write(new AuditEntry { User = user ?? string.Empty, Role = role ?? string.Empty, Remote = ConsoleAccess.Remote(http), Action = "logout", Status = 200, Result = "signed out" });
        return Results.Ok(new { loggedOut = true, login = "/login" });
    }

    private static IResult Me(HttpContext http, ConsoleAccess access, IAntiforgery antiforgery)
    {
        var (user, role) = ConsoleAccess.Who(http);
        return Results.Ok(new
        {
            loginRequired = access.LoginRequired,
            user,
            role,
            canOperate = access.CanOperate(http),
            csrfHeader = access.LoginRequired ? AccessGate.CsrfHeader : null,
            csrfToken = access.LoginRequired ? antiforgery.GetAndStoreTokens(http).RequestToken : null,
        });
    }

    // Only a path on this console: never an absolute URL or a protocol-relative //host (no open redirect).
    private static string LocalUrl(string? url) =>
        url is { Length: > 0 } && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\')) ? url : "/";

    private static IResult LoginPage(HttpContext http, IAntiforgery antiforgery, int status, string? message, string? name, string? returnUrl)
    {
        var tokens = antiforgery.GetAndStoreTokens(http);
        var html = LoginTemplate.Value
            .Replace("{{token-field}}", WebUtility.HtmlEncode(tokens.FormFieldName), StringComparison.Ordinal)
            .Replace("{{token}}", WebUtility.HtmlEncode(tokens.RequestToken), StringComparison.Ordinal)
            .Replace("{{returnUrl}}", WebUtility.HtmlEncode(LocalUrl(returnUrl)), StringComparison.Ordinal)
            .Replace("{{name}}", WebUtility.HtmlEncode(name ?? string.Empty), StringComparison.Ordinal)
            .Replace("{{message-hidden}}", message is null ? "hidden" : string.Empty, StringComparison.Ordinal)
            .Replace("{{message}}", WebUtility.HtmlEncode(message ?? string.Empty), StringComparison.Ordinal);
        http.Response.Headers.CacheControl = "no-store";
        return Results.Content(html, "text/html; charset=utf-8", statusCode: status);
    }
}
