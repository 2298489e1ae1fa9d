using Anvil.HealthProbe;

// anvil-health [http://HOST:PORT]: exit 0 when the service answers SERVING, 1 otherwise (Docker HEALTHCHECK).
try
{
    var address = HealthProbe.ResolveAddress(args.FirstOrDefault(), Environment.GetEnvironmentVariable);
    var status = await HealthProbe.CheckAsync(address, TimeSpan.FromSeconds(3));
    Console.WriteLine(status == 1 ? $"{address} SERVING" : $"{address} status {status}");
    return status == 1 ? 0 : 1;
}
catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or HttpRequestException or TaskCanceledException)
{
    Console.Error.WriteLine($"anvil-health: {ex.Message}");
    return 1;
}
