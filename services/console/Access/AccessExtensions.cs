using Anvil.Console.Service.Access;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;

namespace Microsoft.Extensions.Hosting;

/// <summary>Wiring of the console's access control (issue 13, item 6; services/console README "Access").</summary>
public static class AccessExtensions
{
    /// <summary>Accounts, cookie sessions held server-side, antiforgery, the login throttle, the audit log and the bind check.</summary>
    public static IHostApplicationBuilder AddConsoleAccess(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.Configure<AccessOptions>(builder.Configuration.GetSection(Anvil.Console.Service.Catalog.ConsoleOptions.Section));
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ConsoleAccess>();
        services.AddSingleton<SessionStore>();
        services.AddSingleton<LoginThrottle>();
        services.AddSingleton<AuditLog>();
        services.AddHostedService<BindCheck>();

        // Sessions live in memory (SessionStore), so the keys that protect cookies and tokens may too: a restart signs
        // everybody out either way, and nothing needs a writable key folder (the containers' root is read-only).
        services.AddDataProtection().SetApplicationName("anvil-console").UseEphemeralDataProtectionProvider();
        services.AddAuthentication(ConsoleAccess.Scheme).AddCookie(ConsoleAccess.Scheme);
        services.AddOptions<CookieAuthenticationOptions>(ConsoleAccess.Scheme).Configure<SessionStore, Microsoft.Extensions.Options.IOptions<AccessOptions>>((o, store, access) =>
        {
            o.Cookie.Name = "anvil-console-session";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.ExpireTimeSpan = access.Value.SessionIdleTimeout;
            o.SlidingExpiration = true;
            o.SessionStore = store;
            o.LoginPath = "/login";
            o.Events.OnRedirectToLogin = c => Problem(c.HttpContext, 401, "Login required", "Sign in at /login.");
            o.Events.OnRedirectToAccessDenied = c => Problem(c.HttpContext, 403, "Not allowed", "This account may not do that.");
        });
        services.AddAntiforgery(o =>
        {
            o.HeaderName = AccessGate.CsrfHeader;
            o.FormFieldName = "csrf";
            o.Cookie.Name = "anvil-console-csrf";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        return builder;
    }

    /// <summary>Authentication and the gate before every endpoint, then the login, logout, me and audit endpoints.</summary>
    public static WebApplication UseConsoleAccess(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseMiddleware<AccessGate>();
        app.MapConsoleLogin();
        return app;
    }

    private static Task Problem(HttpContext http, int status, string title, string detail) =>
        Results.Problem(detail: detail, statusCode: status, title: title).ExecuteAsync(http);
}
