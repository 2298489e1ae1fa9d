using Anvil.Viewer.Access;

namespace Anvil.Cli;

/// <summary>
/// `anvil console-user NAME --role operator|viewer`: reads a password from standard input (its first line, so
/// `read -rs` + `printf` or a password manager's pipe works, and the password never appears in the process list or the
/// shell history) and prints the console account's config entry, one JSON line with a PBKDF2 hash (services/console
/// README "Access"). Append it to the users file (`Console:UsersFile`) or put it into <c>Console:Users</c>.
/// </summary>
public static class ConsoleUserCommand
{
    public const string Usage = "anvil console-user NAME --role operator|viewer   (password on stdin; prints the Console:Users entry)";

    /// <summary>Shortest password accepted.</summary>
    public const int MinPasswordLength = 8;

    public static int Run(CommandLine line, TextReader input, TextWriter output, TextWriter error)
    {
        var name = line.Positional.Count == 1 ? line.Positional[0].Trim() : throw new UsageException("give one account name, e.g. ./anvil console-user alice --role operator");
        if (name.Length == 0 || name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == ':'))
        {
            throw new UsageException($"'{name}' is not an account name: use letters, digits, '.', '-' or '_', no spaces");
        }

        var role = line.Get("role") ?? throw new UsageException("give --role operator (reads and operates) or --role viewer (reads only)");
        if (ConsoleAccounts.ParseRole(role) is not { } parsed)
        {
            throw new UsageException($"--role must be operator or viewer, not '{role}'");
        }

        line.RejectUnknown();
        if (!Console.IsInputRedirected)
        {
            error.Write($"password for {name}: ");
        }

        var password = input.ReadLine()?.TrimEnd('\r') ?? string.Empty;
        if (password.Length < MinPasswordLength)
        {
            error.WriteLine($"anvil console-user: the password must have at least {MinPasswordLength} characters (read from standard input, first line); nothing printed.");
            return 1;
        }

        output.WriteLine(ConsoleAccounts.Entry(new ConsoleUser { Name = name, Role = parsed.ToString().ToLowerInvariant(), PasswordHash = ConsolePassword.Hash(password) }));
        return 0;
    }
}
