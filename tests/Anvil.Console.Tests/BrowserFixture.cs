using Anvil.Testing;
using Microsoft.Playwright;

namespace Anvil.Console.Tests;

/// <summary>
/// One headless Chromium for the page tests: the apt-installed /usr/bin/chromium driven by Playwright (its own
/// browser download never runs), with the flags that keep it off the network (machine-notes §9).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string Executable = "/usr/bin/chromium";

    private IPlaywright? playwright;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Where screenshots of the main views are kept (artifacts/console under the repository).</summary>
    public static string Artifacts { get; } = Directory.CreateDirectory(Path.Combine(TestPaths.RepoRoot, "artifacts", "console")).FullName;

    public async Task InitializeAsync()
    {
        if (!File.Exists(Executable))
        {
            throw new InvalidOperationException($"{Executable} is missing: apt-get install -y chromium (.ci/run installs it).");
        }

        playwright = await Playwright.CreateAsync().DefaultTimeout(TimeSpan.FromSeconds(60));
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Executable,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        }).DefaultTimeout(TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync().DefaultTimeout();
        }

        playwright?.Dispose();
    }

    /// <summary>A fresh page of 1400 × 900 CSS pixels.</summary>
    public async Task<IPage> NewPageAsync() =>
        await Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } }).DefaultTimeout();
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
