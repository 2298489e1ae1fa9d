using System.Net;
using Microsoft.AspNetCore.Hosting;
using Anvil.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Anvil.Deploy.Tests;

/// <summary>The images' HEALTHCHECK probe against a real service host (the shared service defaults) on 127.0.0.1.</summary>
public class HealthProbeTests
{
    [Fact]
    public async Task Check_ServingService_ReturnsServing()
    {
        await using var app = await StartAsync(healthy: true);

        var status = await HealthProbe.HealthProbe.CheckAsync(Address(app), TimeSpan.FromSeconds(5)).DefaultTimeout();

        Assert.Equal(1, status);
    }

    [Fact]
    public async Task Check_UnhealthyService_ReturnsNotServing()
    {
        await using var app = await StartAsync(healthy: false);

        var status = await HealthProbe.HealthProbe.CheckAsync(Address(app), TimeSpan.FromSeconds(5)).DefaultTimeout();

        Assert.Equal(2, status);
    }

    [Fact]
    public async Task Check_NothingListening_Throws()
    {
        var port = FreePort();

        await Assert.ThrowsAsync<HttpRequestException>(() =>
            HealthProbe.HealthProbe.CheckAsync(new Uri($"http://127.0.0.1:{port}"), TimeSpan.FromSeconds(5)).DefaultTimeout());
    }

    [Theory]
    [InlineData("http://0.0.0.0:5103", "http://127.0.0.1:5103/")]
    [InlineData("http://+:5101", "http://127.0.0.1:5101/")]
    [InlineData("http://[::]:5100", "http://127.0.0.1:5100/")]
    [InlineData("http://127.0.0.1:15105", "http://127.0.0.1:15105/")]
    public void ResolveAddress_ProbesTheServiceEndpointOnLoopback(string kestrelUrl, string expected)
    {
        var uri = HealthProbe.HealthProbe.ResolveAddress(null, name => name == "Kestrel__Endpoints__Grpc__Url" ? kestrelUrl : null);

        Assert.Equal(expected, uri.ToString());
    }

    [Fact]
    public void ResolveAddress_PrefersTheArgument_ThenAnvilHealthUrl()
    {
        var environment = new Dictionary<string, string> { ["ANVIL_HEALTH_URL"] = "http://127.0.0.1:7001", ["Kestrel__Endpoints__Grpc__Url"] = "http://0.0.0.0:7002" };

        Assert.Equal(7000, HealthProbe.HealthProbe.ResolveAddress("http://127.0.0.1:7000", n => environment.GetValueOrDefault(n)).Port);
        Assert.Equal(7001, HealthProbe.HealthProbe.ResolveAddress(null, n => environment.GetValueOrDefault(n)).Port);
        Assert.Throws<ArgumentException>(() => HealthProbe.HealthProbe.ResolveAddress(null, _ => null));
        Assert.Throws<ArgumentException>(() => HealthProbe.HealthProbe.ResolveAddress("https://127.0.0.1:7000", _ => null));
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 0, 2, 8, 1 }, 1)]
    [InlineData(new byte[] { 0, 0, 0, 0, 2, 8, 2 }, 2)]
    [InlineData(new byte[] { 0, 0, 0, 0, 0 }, 0)]
    public void ParseStatus_ReadsTheServingStatus(byte[] frame, int expected)
    {
        Assert.Equal(expected, HealthProbe.HealthProbe.ParseStatus(frame));
    }

    [Theory]
    [InlineData(new byte[] { 1, 0, 0, 0, 2, 8, 1 })]
    [InlineData(new byte[] { 0, 0, 0, 0, 3, 8, 1 })]
    [InlineData(new byte[] { 0, 0, 0 })]
    public void ParseStatus_RejectsMalformedFrames(byte[] frame)
    {
        Assert.Throws<InvalidOperationException>(() => HealthProbe.HealthProbe.ParseStatus(frame));
    }

    private static async Task<WebApplication> StartAsync(bool healthy)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddServiceDefaults();
        if (!healthy)
        {
            builder.Services.AddHealthChecks().AddCheck("down", () => HealthCheckResult.Unhealthy("test"));
        }

        var app = builder.Build();
        app.MapDefaultEndpoints();
        await app.StartAsync().DefaultTimeout();
        return app;
    }

    private static Uri Address(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
