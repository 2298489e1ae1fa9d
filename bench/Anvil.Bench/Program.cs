using Anvil.Bench;

switch (args.Length > 0 ? args[0] : string.Empty)
{
    case "integrate":
        var filter = BenchArgs.String(args, "--filter");
        return IntegrateBench.Run(args.Contains("--quick"), filter, !args.Contains("--no-pyfai"));
    case "broker":
        return await BrokerBench.RunAsync(args.Contains("--quick"));
    case "simulate":
        return SimulateBench.Run(args.Contains("--quick"));
    case "pipeline":
        return await PipelineBench.RunAsync(args[1..]);
    case "soak":
        return await SoakBench.RunAsync(args[1..]);
    case "viewer":
        return ViewerBench.Run(args.Contains("--quick"));
    default:
        Console.Error.WriteLine("usage: Anvil.Bench integrate [--quick] [--filter TEXT] [--no-pyfai]\n       Anvil.Bench broker [--quick]\n       Anvil.Bench simulate [--quick]\n       Anvil.Bench viewer [--quick]\n       Anvil.Bench pipeline [--frames N] [--quick] [--detectors N] [--live RATE,RATE,…|--no-live] [--live-frames N] [--replicas N,N,…] [--no-baseline] [--reprocess [--reprocess-pairs N] [--reprocess-frames N]] [--source DIR]\n       Anvil.Bench soak [--frames N] [--chunk N] [--rate HZ] [--every S] [--quick] [--keep] [--source DIR]");
        return 2;
}
