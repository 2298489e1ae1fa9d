using System.Diagnostics;
using System.Globalization;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Grpc.Core;

namespace Anvil.Bench;

/// <summary>
/// `anvil bench broker`: the Anvil broker against Redis Streams (Debian redis-server on loopback) in the same run, the
/// same message sizes and batching on both sides. Each side runs as its own process; this program is the client of both.
/// </summary>
internal static class BrokerBench
{
    private const string Beamtime = "bench";
    private const int Batch = 100;
    private const int Prefetch = 1000;
    private const double LatencyRate = 2000;

    private static readonly string Meta = MakeMeta();

    public static async Task<int> RunAsync(bool quick)
    {
        // The bench measures the broker side by side with Redis Streams: without redis-server there is no baseline.
        if (!RedisServer.IsInstalled)
        {
            Console.Error.WriteLine("anvil bench broker: redis-server is not installed; the bench runs the broker side by side with Redis Streams: install Debian's redis-server (apt-get install -y redis-server) and run it again.");
            return 1;
        }

        var count = quick ? 20_000 : 100_000;
        var latencySeconds = quick ? 3.0 : 10.0;
        var work = Directory.CreateTempSubdirectory("anvil-bench-broker-");
        try
        {
            using var broker = await BrokerProcess.StartAsync(work.FullName, Beamtime);
            using var redis = await RedisServer.StartAsync(work.FullName);
            Console.WriteLine($"{count} messages of 1 KiB metadata, batches of {Batch}, {Environment.ProcessorCount} cores (shared: figures are noisy)");
            Console.WriteLine($"anvil: {BrokerProcess.Fsync}; redis: {RedisServer.Fsync}");
            using var client = BrokerClient.Connect(broker.Address, new BrokerClientOptions { Beamtime = Beamtime, Token = broker.Token });
            using var r = await RespClient.ConnectAsync(redis.Port);

            // Warm-up on both sides, not measured: JIT, connections, pools. .NET's tiered JIT recompiles hot methods in
            // the background for a while after start, and that CPU counts as the broker's: with a warm-up of 2,000
            // messages it was most of the measured produce run (perf, issue 3). Rounds of every case run until the
            // broker's CPU per message stops falling (steady state, as for a broker that has been up for a while).
            var rounds = await WarmUp(client, r, redis.Port, broker, quick ? 5_000 : 25_000);
            Console.WriteLine($"warm-up: {rounds.Count} rounds, broker CPU per message {string.Join(", ", rounds.Select(us => us.ToString("0.0", CultureInfo.InvariantCulture)))} µs");

            var ours = await Measure(broker.Cpu, () => broker.Cpu, () => ProduceAnvil(client, "s", count));
            var theirs = await Measure(redis.Cpu, () => redis.Cpu, () => ProduceRedis(r, "s", count));
            Report("produce (batched)", count, ours, theirs);
            await client.FinishStreamAsync(client.Address(string.Empty, "s"), (ulong)count);

            foreach (var consumers in new[] { 1, 4 })
            {
                ours = await Measure(broker.Cpu, () => broker.Cpu, () => ConsumeAnvil(client, "s", $"g{consumers}", consumers, count));
                theirs = await Measure(redis.Cpu, () => redis.Cpu, () => ConsumeRedis(redis.Port, "s", $"g{consumers}", consumers, count));
                Report($"consume+ack, {consumers} consumer{(consumers > 1 ? "s" : string.Empty)}", count, ours, theirs);
            }

            var total = (int)(LatencyRate * latencySeconds);
            var ourLatency = await LatencyAnvil(client, "lat", total);
            var redisLatency = await LatencyRedis(redis.Port, "lat", total);
            Console.WriteLine($"delivery at {LatencyRate:0} msg/s: {ourLatency.Rate:0} msg/s, {redisLatency.Rate:0} msg/s, {ourLatency.Rate / redisLatency.Rate:0.00} x Redis");
            Console.WriteLine($"latency p50: {ourLatency.P50:0.000} ms, {redisLatency.P50:0.000} ms, {redisLatency.P50 / ourLatency.P50:0.00} x Redis (Redis ÷ ours: above 1 = faster)");
            Console.WriteLine($"latency p99: {ourLatency.P99:0.000} ms, {redisLatency.P99:0.000} ms, {redisLatency.P99 / ourLatency.P99:0.00} x Redis (Redis ÷ ours: above 1 = faster)");
            return 0;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private const int MinWarmRounds = 6;
    private const int MaxWarmRounds = 12;

    private static async Task<List<double>> WarmUp(BrokerClient client, RespClient r, int redisPort, BrokerProcess broker, int n)
    {
        var perMessage = new List<double>();
        for (var round = 0; round < MaxWarmRounds; round++)
        {
            var stream = "warm" + round.ToString(CultureInfo.InvariantCulture);
            var cpu = broker.Cpu;
            await ProduceAnvil(client, stream, n);
            await client.FinishStreamAsync(client.Address(string.Empty, stream), (ulong)n);
            await ConsumeAnvil(client, stream, "w1", 1, n);
            await ConsumeAnvil(client, stream, "w4", 4, n);
            perMessage.Add((broker.Cpu - cpu).TotalMicroseconds / n);
            await client.Producer.DeleteStreamAsync(new DeleteStreamRequest { Address = client.Address(string.Empty, stream) }, client.Headers);

            // redis-server needs no JIT; two rounds warm this process's side of it. Warm-up streams are deleted on both
            // sides, so neither carries their data into the measured cases.
            if (round < 2)
            {
                await ProduceRedis(r, stream, n);
                await ConsumeRedis(redisPort, stream, "w1", 1, n);
                await ConsumeRedis(redisPort, stream, "w4", 4, n);
                await r.CallAsync("DEL", stream);
            }

            // Settled: at least MinWarmRounds, the last three within 10 % of the best so far.
            var best = perMessage.Min();
            if (perMessage.Count >= MinWarmRounds && perMessage.TakeLast(3).All(us => us <= best * 1.1))
            {
                break;
            }
        }

        return perMessage;
    }

    private readonly record struct Run(double Seconds, double ServerCpu, double ClientCpu);

    private static async Task<Run> Measure(TimeSpan cpuBefore, Func<TimeSpan> cpu, Func<Task> body)
    {
        var self = Process.GetCurrentProcess();
        var clientBefore = self.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        await body();
        self.Refresh();
        return new Run(clock.Elapsed.TotalSeconds, (cpu() - cpuBefore).TotalSeconds, (self.TotalProcessorTime - clientBefore).TotalSeconds);
    }

    private static void Report(string name, int count, Run ours, Run theirs)
    {
        var a = count / ours.Seconds;
        var b = count / theirs.Seconds;
        Console.WriteLine($"{name}: {a:0} msg/s, {b:0} msg/s, {a / b:0.00} x Redis");
        Console.WriteLine($"  CPU s server/client: anvil {ours.ServerCpu:0.00}/{ours.ClientCpu:0.00} ({count / Math.Max(ours.ServerCpu, 1e-3):0} msg per server CPU-s), redis {theirs.ServerCpu:0.00}/{theirs.ClientCpu:0.00} ({count / Math.Max(theirs.ServerCpu, 1e-3):0} msg per server CPU-s)");
    }

    private static string MakeMeta()
    {
        var head = "{\"detector\":\"lambda2m\",\"pad\":\"";
        var tail = "\"}";
        return head + new string('x', 1024 - head.Length - tail.Length) + tail;
    }

    private static SendRequest Message(Address address, int id) => new()
    {
        Address = address,
        Id = (ulong)id,
        Name = "frame_" + id.ToString(CultureInfo.InvariantCulture),
        Meta = Meta,
    };

    private static async Task ProduceAnvil(BrokerClient client, string stream, int count)
    {
        var address = client.Address(string.Empty, stream);
        var batch = new List<SendRequest>(Batch);
        for (var id = 1; id <= count; id++)
        {
            batch.Add(Message(address, id));
            if (batch.Count == Batch || id == count)
            {
                var reply = await client.SendBatchAsync(batch);
                if (reply.Results.FirstOrDefault(r => r.Code != 0) is { } failed)
                {
                    throw new InvalidOperationException($"send {failed.Id} failed: {failed.Reason} {failed.Message}");
                }

                batch.Clear();
            }
        }
    }

    private static async Task ProduceRedis(RespClient redis, string stream, int count)
    {
        for (var id = 1; id <= count; id += Batch)
        {
            var n = Math.Min(Batch, count - id + 1);
            for (var i = 0; i < n; i++)
            {
                redis.Write("XADD", stream, "*", "name", "frame_" + (id + i).ToString(CultureInfo.InvariantCulture), "meta", Meta);
            }

            await redis.FlushAsync();
            for (var i = 0; i < n; i++)
            {
                redis.Read();
            }
        }
    }

    // Subscribe with credit for Prefetch deliveries; ids acknowledged Batch at a time with AcknowledgeMany.
    private static async Task ConsumeAnvil(BrokerClient client, string stream, string group, int consumers, int count)
    {
        var address = client.Address(string.Empty, stream);
        var received = 0;
        await Task.WhenAll(Enumerable.Range(0, consumers).Select(async _ =>
        {
            var pending = new List<ulong>(Batch);
            using var call = client.Consumer.Subscribe(new SubscribeRequest { Address = address, Group = group, Prefetch = Prefetch }, client.Headers);
            await foreach (var item in call.ResponseStream.ReadAllAsync())
            {
                if (item.ItemCase != SubscribeItem.ItemOneofCase.Message)
                {
                    break;
                }

                pending.Add(item.Message.Id);
                Interlocked.Increment(ref received);
                if (pending.Count == Batch)
                {
                    await client.AcknowledgeManyAsync(address, group, pending);
                    pending.Clear();
                }
            }

            if (pending.Count > 0)
            {
                await client.AcknowledgeManyAsync(address, group, pending);
            }
        }));
        if (received != count)
        {
            throw new InvalidOperationException($"anvil delivered {received} of {count}");
        }
    }

    private static async Task ConsumeRedis(int port, string stream, string group, int consumers, int count)
    {
        using (var admin = await RespClient.ConnectAsync(port))
        {
            await admin.CallAsync("XGROUP", "CREATE", stream, group, "0");
        }

        var received = 0;
        await Task.WhenAll(Enumerable.Range(0, consumers).Select(async c =>
        {
            using var redis = await RespClient.ConnectAsync(port);
            var name = "c" + c.ToString(CultureInfo.InvariantCulture);
            while (true)
            {
                var reply = await redis.CallAsync("XREADGROUP", "GROUP", group, name, "COUNT", Batch.ToString(CultureInfo.InvariantCulture), "STREAMS", stream, ">");
                var entries = reply is object?[] { Length: > 0 } streams ? (object?[])((object?[])streams[0]!)[1]! : [];
                if (entries.Length == 0)
                {
                    return;
                }

                var ack = new string[3 + entries.Length];
                ack[0] = "XACK";
                ack[1] = stream;
                ack[2] = group;
                for (var i = 0; i < entries.Length; i++)
                {
                    ack[3 + i] = (string)((object?[])entries[i]!)[0]!;
                }

                Interlocked.Add(ref received, entries.Length);
                await redis.CallAsync(ack);
            }
        }));
        if (received != count)
        {
            throw new InvalidOperationException($"redis delivered {received} of {count}");
        }
    }

    private readonly record struct Latency(double Rate, double P50, double P99);

    private static Latency Summarise(List<double> samples, double seconds)
    {
        samples.Sort();
        return new Latency(samples.Count / seconds, samples[samples.Count / 2], samples[Math.Min(samples.Count - 1, (int)(samples.Count * 0.99))]);
    }

    // One message every 0.5 ms, each sent alone (no batching: it is about delivery time); the send time travels in a header.
    private static async Task Pace(int total, Func<int, long, Task> send)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 1; i <= total; i++)
        {
            var due = (long)((i - 1) * Stopwatch.Frequency / LatencyRate);
            while (clock.ElapsedTicks < due)
            {
                if (due - clock.ElapsedTicks > Stopwatch.Frequency / 1000)
                {
                    await Task.Delay(1);
                }
                else
                {
                    Thread.SpinWait(50);
                }
            }

            await send(i, Stopwatch.GetTimestamp());
        }
    }

    private static double Ms(long from) => Stopwatch.GetElapsedTime(from).TotalMilliseconds;

    private static async Task<Latency> LatencyAnvil(BrokerClient client, string stream, int total)
    {
        var address = client.Address(string.Empty, stream);
        var samples = new List<double>(total);
        using var call = client.Consumer.Subscribe(new SubscribeRequest { Address = address, Group = "lat", Prefetch = Prefetch, GapTimeoutMs = 1000 }, client.Headers);
        var consumer = Task.Run(async () =>
        {
            var pending = new List<ulong>(Batch);
            await foreach (var item in call.ResponseStream.ReadAllAsync())
            {
                if (item.ItemCase != SubscribeItem.ItemOneofCase.Message)
                {
                    continue;
                }

                samples.Add(Ms(long.Parse(item.Message.Headers["t"], CultureInfo.InvariantCulture)));
                pending.Add(item.Message.Id);
                if (pending.Count == Batch || samples.Count == total)
                {
                    await client.AcknowledgeManyAsync(address, "lat", pending);
                    pending.Clear();
                }

                if (samples.Count == total)
                {
                    return;
                }
            }
        });
        var clock = Stopwatch.StartNew();
        await Pace(total, async (id, t) =>
        {
            var request = Message(address, id);
            request.Headers["t"] = t.ToString(CultureInfo.InvariantCulture);
            await client.SendAsync(request);
        });
        await consumer.WaitAsync(TimeSpan.FromSeconds(60));
        return Summarise(samples, clock.Elapsed.TotalSeconds);
    }

    private static async Task<Latency> LatencyRedis(int port, string stream, int total)
    {
        using (var admin = await RespClient.ConnectAsync(port))
        {
            await admin.CallAsync("XGROUP", "CREATE", stream, "lat", "$", "MKSTREAM");
        }

        var samples = new List<double>(total);
        var consumer = Task.Run(async () =>
        {
            using var redis = await RespClient.ConnectAsync(port);
            while (samples.Count < total)
            {
                var reply = await redis.CallAsync("XREADGROUP", "GROUP", "lat", "c", "COUNT", Batch.ToString(CultureInfo.InvariantCulture), "BLOCK", "1000", "STREAMS", stream, ">");
                var entries = reply is object?[] { Length: > 0 } streams ? (object?[])((object?[])streams[0]!)[1]! : [];
                if (entries.Length == 0)
                {
                    continue;
                }

                var ack = new List<string>(3 + entries.Length) { "XACK", stream, "lat" };
                foreach (object?[] entry in entries.Cast<object?[]>())
                {
                    var fields = (object?[])entry[1]!;
                    for (var f = 0; f + 1 < fields.Length; f += 2)
                    {
                        if ((string)fields[f]! == "t")
                        {
                            samples.Add(Ms(long.Parse((string)fields[f + 1]!, CultureInfo.InvariantCulture)));
                        }
                    }

                    ack.Add((string)entry[0]!);
                }

                await redis.CallAsync([.. ack]);
            }
        });
        using var producer = await RespClient.ConnectAsync(port);
        var clock = Stopwatch.StartNew();
        await Pace(total, async (id, t) =>
            await producer.CallAsync("XADD", stream, "*", "name", "frame_" + id.ToString(CultureInfo.InvariantCulture), "meta", Meta, "t", t.ToString(CultureInfo.InvariantCulture)));
        await consumer.WaitAsync(TimeSpan.FromSeconds(60));
        return Summarise(samples, clock.Elapsed.TotalSeconds);
    }
}
