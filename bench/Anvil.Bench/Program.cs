using Anvil.Bench;

return args.Length > 0 && args[0] == "integrate"
    ? IntegrateBench.Run(args.Contains("--quick"))
    : Usage();

static int Usage()
{
    Console.Error.WriteLine("usage: Anvil.Bench integrate [--quick]");
    return 2;
}
