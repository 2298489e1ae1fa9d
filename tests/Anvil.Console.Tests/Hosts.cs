using Anvil.Broker.Service.Extensions;
using Anvil.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Anvil.Console.Tests;

/// <summary>Real servers in this process on 127.0.0.1 port 0, composed as their Program.cs composes them.</summary>
public static class Hosts
{
    /// <summary>The results console with its HTTP/1.1 endpoint; returns the app and its page address.</summary>
    public static async Task<(WebApplication App, string Address)> StartConsoleAsync(string outputDir, string dataRoot, string broker, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = "anvil-console", ContentRootPath = outputDir });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Http:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Http:Protocols"] = "Http1",
            ["Pipeline:OutputDir"] = outputDir,
            ["Pipeline:DataRoot"] = dataRoot,
            ["Pipeline:Broker"] = broker,
            ["Console:PollInterval"] = "00:00:00.050",
            ["OTEL_SDK_DISABLED"] = "true",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        builder.Configuration.AddInMemoryCollection(extra ?? new Dictionary<string, string?>());
        builder.AddServiceDefaults();
        builder.AddConsoleServices();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapConsole();
        try
        {
            await app.StartAsync().DefaultTimeout();
        }
        catch
        {
            // A console that refuses to start (e.g. the access bind check) must not keep listening in the test process.
            await app.DisposeAsync();
            throw;
        }

        return (app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single().TrimEnd('/'));
    }

    /// <summary>A broker without auth on an h2c endpoint; returns the app and its address.</summary>
    public static async Task<(WebApplication App, string Address)> StartBrokerAsync(string dataDir)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = "anvil-broker", ContentRootPath = dataDir });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Grpc:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Grpc:Protocols"] = "Http2",
            ["Broker:DataDir"] = Path.Combine(dataDir, "broker"),
            ["Broker:DataRoot"] = dataDir,
            ["Broker:Auth:Enabled"] = "false",
            ["OTEL_SDK_DISABLED"] = "true",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Information", // a start-up line for the log tests
        });
        builder.AddServiceDefaults();
        builder.AddBrokerServices();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapGrpcService<Anvil.Broker.Service.Grpc.ProducerService>();
        app.MapGrpcService<Anvil.Broker.Service.Grpc.ConsumerService>();
        await app.StartAsync().DefaultTimeout();
        await app.Services.GetRequiredService<Anvil.Broker.Core.MessageBroker>().Recovery.DefaultTimeout();
        return (app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single().TrimEnd('/'));
    }
}
