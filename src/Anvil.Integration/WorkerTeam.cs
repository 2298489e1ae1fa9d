namespace Anvil.Integration;

/// <summary>
/// A fixed set of background threads that each run one part of a frame. Unlike Parallel.For it allocates
/// nothing per call, and part p always runs the same bins, so results do not depend on scheduling.
/// </summary>
internal sealed unsafe class WorkerTeam : IDisposable
{
    private readonly Thread[] threads;
    private readonly SemaphoreSlim[] start;
    private readonly CountdownEvent done;
    private delegate*<IntegrationEngine, int, void> job;
    private IntegrationEngine? context;
    private volatile bool stopping;

    public WorkerTeam(int parts)
    {
        // The caller runs part 0 itself; the team runs parts 1..parts-1.
        threads = new Thread[parts - 1];
        start = new SemaphoreSlim[parts - 1];
        done = new CountdownEvent(parts - 1);
        for (var t = 0; t < threads.Length; t++)
        {
            start[t] = new SemaphoreSlim(0);
            var part = t + 1;
            threads[t] = new Thread(() => Loop(part)) { IsBackground = true, Name = $"anvil-integrate-{part}" };
            threads[t].Start();
        }
    }

    public void Run(delegate*<IntegrationEngine, int, void> body, IntegrationEngine engine)
    {
        job = body;
        context = engine;
        done.Reset();
        foreach (var s in start)
        {
            s.Release();
        }

        Exception? failure = null;
        try
        {
            body(engine, 0);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        done.Wait();
        context = null;
        if (failure is not null)
        {
            throw failure;
        }
    }

    private void Loop(int part)
    {
        var semaphore = start[part - 1];
        while (true)
        {
            semaphore.Wait();
            if (stopping)
            {
                return;
            }

            try
            {
                job(context!, part);
            }
            finally
            {
                done.Signal();
            }
        }
    }

    public void Dispose()
    {
        stopping = true;
        foreach (var s in start)
        {
            s.Release();
        }

        foreach (var t in threads)
        {
            t.Join();
        }

        foreach (var s in start)
        {
            s.Dispose();
        }

        done.Dispose();
    }
}
