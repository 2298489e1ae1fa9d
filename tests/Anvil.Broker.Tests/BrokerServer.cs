using System.Collections.Concurrent;
using Anvil.Broker.Service.Extensions;
using Anvil.Broker.Service.Grpc;
using Anvil.Broker.V1;
using Anvil.Testing;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Anvil.Broker.Tests;

/// <summary>The real broker service in-process on 127.0.0.1 port 0 (the bound port read back), with a gRPC channel to it.</summary>
public sealed class BrokerServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly TempDir dataDir;
    private readonly ErrorCollector errors;

    private BrokerServer(WebApplication app, TempDir dataDir, ErrorCollector errors, string address)
    {
        this.app = app;
        this.dataDir = dataDir;
        this.errors = errors;
        Address = address;
        Channel = GrpcChannel.ForAddress(address);
        Producer = new Producer.ProducerClient(Channel);
        Consumer = new Consumer.ConsumerClient(Channel);
    }

    public string Address { get; }

    public GrpcChannel Channel { get; }

    public Producer.ProducerClient Producer { get; }

    public Consumer.ConsumerClient Consumer { get; }

    public IServiceProvider Services => app.Services;

    /// <summary>Error-level log lines the server wrote (a test fails on unexpected ones).</summary>
    public IReadOnlyCollection<string> Errors => errors.Lines;

    /// <summary>Every log line at or above the level given to <see cref="StartAsync"/> (Error by default), with its category.</summary>
    public IReadOnlyCollection<string> LogLines => errors.All;

    public static async Task<BrokerServer> StartAsync(IDictionary<string, string?>? settings = null, TimeProvider? time = null, LogLevel capture = LogLevel.Error)
    {
        var dataDir = new TempDir();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        var config = new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Grpc:Url"] = "http://127.0.0.1:0",
            ["Broker:DataDir"] = dataDir.Path,

            // Auth has its own tests (AuthTests), which turn it on with a secret file.
            ["Broker:Auth:Enabled"] = "false",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(config);
        var errors = new ErrorCollector(capture);
        builder.Logging.AddProvider(errors);
        if (capture < LogLevel.Information)
        {
            builder.Logging.SetMinimumLevel(capture);
        }

        builder.AddServiceDefaults();
        builder.AddBrokerServices();
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapGrpcService<ProducerService>();
        app.MapGrpcService<ConsumerService>();
        await app.StartAsync().DefaultTimeout();

        // The broker replays its data directory in the background (docs/broker.md §7); tests start once it has.
        await app.Services.GetRequiredService<Anvil.Broker.Core.MessageBroker>().Recovery.DefaultTimeout();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new BrokerServer(app, dataDir, errors, address);
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await app.StopAsync().DefaultTimeout();
        await app.DisposeAsync();
        dataDir.Dispose();
    }

    private sealed class ErrorCollector(LogLevel capture) : ILoggerProvider
    {
        public ConcurrentQueue<string> Queue { get; } = new();

        public ConcurrentQueue<string> AllQueue { get; } = new();

        public IReadOnlyCollection<string> Lines => Queue;

        public IReadOnlyCollection<string> All => AllQueue;

        public LogLevel Capture => capture;

        public ILogger CreateLogger(string categoryName) => new Collector(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Collector(ErrorCollector owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= owner.Capture || logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var line = $"{category}: {formatter(state, exception)} {exception}";
                if (logLevel >= owner.Capture)
                {
                    owner.AllQueue.Enqueue(line);
                }

                if (logLevel >= LogLevel.Error)
                {
                    owner.Queue.Enqueue(line);
                }
            }
        }
    }
}
