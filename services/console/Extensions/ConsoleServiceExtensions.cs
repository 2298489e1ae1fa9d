using Anvil.Console.Service.Api;
using Anvil.Console.Service.Catalog;
using Anvil.Console.Service.Status;
using Anvil.Workers;

namespace Microsoft.Extensions.Hosting;

/// <summary>Wiring of the results console.</summary>
public static class ConsoleServiceExtensions
{
    /// <summary>Pipeline options and the broker client (as every service binds them), the catalog, the broker follower, the channel to ingest's Control service, OpenAPI.</summary>
    public static IHostApplicationBuilder AddConsoleServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddPipelineDefaults(builder.Configuration);
        builder.Services.Configure<ConsoleOptions>(builder.Configuration.GetSection(ConsoleOptions.Section));
        builder.Services.AddSingleton<AcquisitionCatalog>();
        builder.Services.AddHostedService<ProfileFollower>();
        builder.Services.AddSingleton<ControlConnection>();
        builder.Services.AddSingleton<LivePressureClient>();
        builder.Services.AddConsoleStatus(builder.Configuration);
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi();
        builder.AddConsoleAccess();
        return builder;
    }

    /// <summary>The page, its assets, the JSON/binary API, the access gate (login, CSRF, audit: Access/), the operator API and /openapi/v1.json.</summary>
    public static WebApplication MapConsole(this WebApplication app)
    {
        app.UseStatusCodePages();
        app.UseConsoleAccess();
        app.MapOpenApi();
        app.MapConsoleApi();
        app.MapPressureApi();
        app.MapOperatorApi();
        app.MapStatusApi();
        app.MapConsoleAssets();
        return app;
    }
}
