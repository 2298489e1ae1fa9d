using Anvil.Bench;

if (args.Length > 0 && args[0] == "simulate")
{
    return SimulateBench.Run(args.Contains("--quick"));
}

if (args.Length == 0 || args[0] != "integrate")
{
    Console.Error.WriteLine("usage: Anvil.Bench integrate [--quick] [--filter TEXT] [--no-pyfai] | simulate [--quick]");
    return 2;
}

var filter = Array.IndexOf(args, "--filter") is var f and >= 0 && f + 1 < args.Length ? args[f + 1] : null;
return IntegrateBench.Run(args.Contains("--quick"), filter, !args.Contains("--no-pyfai"));
