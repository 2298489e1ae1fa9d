using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Anvil.Bench;

/// <summary>
/// A minimal RESP2 client for the benchmark's Redis side: commands are buffered and sent with <see cref="FlushAsync"/>
/// (so a batch of N commands is one pipelined write), replies are read in order. Enough for XADD, XREADGROUP with
/// BLOCK (which the common multiplexing clients do not offer), XACK and XGROUP.
/// </summary>
internal sealed class RespClient : IDisposable
{
    private readonly TcpClient tcp;
    private readonly BufferedStream output;
    private readonly BufferedStream input;
    private byte[] scratch = new byte[4096];

    private RespClient(TcpClient tcp)
    {
        this.tcp = tcp;
        tcp.NoDelay = true;
        var stream = tcp.GetStream();
        output = new BufferedStream(stream, 1 << 16);
        input = new BufferedStream(stream, 1 << 16);
    }

    public static async Task<RespClient> ConnectAsync(int port)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        return new RespClient(tcp);
    }

    /// <summary>Buffers one command (array of bulk strings).</summary>
    public void Write(params ReadOnlySpan<string> args)
    {
        Span<byte> number = stackalloc byte[24];
        WriteHeader((byte)'*', args.Length, number);
        foreach (var arg in args)
        {
            var bytes = Encoding.UTF8.GetByteCount(arg);
            WriteHeader((byte)'$', bytes, number);
            if (bytes > scratch.Length)
            {
                scratch = new byte[bytes];
            }

            Encoding.UTF8.GetBytes(arg, scratch);
            output.Write(scratch, 0, bytes);
            output.Write("\r\n"u8);
        }
    }

    public Task FlushAsync() => output.FlushAsync();

    /// <summary>Sends one command and reads its reply.</summary>
    public async Task<object?> CallAsync(params string[] args)
    {
        Write(args);
        await FlushAsync();
        return Read();
    }

    /// <summary>Reads one reply: string (simple or bulk), long, object?[] (array), null; an error reply throws.</summary>
    public object? Read()
    {
        var type = input.ReadByte();
        var line = ReadLine();
        switch (type)
        {
            case '+':
                return line;
            case '-':
                throw new InvalidOperationException("redis: " + line);
            case ':':
                return long.Parse(line, CultureInfo.InvariantCulture);
            case '$':
                {
                    var length = int.Parse(line, CultureInfo.InvariantCulture);
                    if (length < 0)
                    {
                        return null;
                    }

                    var bytes = new byte[length + 2];
                    input.ReadExactly(bytes);
                    return Encoding.UTF8.GetString(bytes, 0, length);
                }

            case '*':
                {
                    var count = int.Parse(line, CultureInfo.InvariantCulture);
                    if (count < 0)
                    {
                        return null;
                    }

                    var items = new object?[count];
                    for (var i = 0; i < count; i++)
                    {
                        items[i] = Read();
                    }

                    return items;
                }

            default:
                throw new InvalidOperationException($"redis: unexpected reply type {type}");
        }
    }

    public void Dispose() => tcp.Dispose();

    private void WriteHeader(byte kind, int value, Span<byte> scratch)
    {
        scratch[0] = kind;
        Utf8Formatter.TryFormat(value, scratch[1..], out var written);
        scratch[1 + written] = (byte)'\r';
        scratch[2 + written] = (byte)'\n';
        output.Write(scratch[..(3 + written)]);
    }

    private string ReadLine()
    {
        var builder = new StringBuilder();
        while (true)
        {
            var b = input.ReadByte();
            if (b < 0)
            {
                throw new EndOfStreamException("redis closed the connection");
            }

            if (b == '\r')
            {
                input.ReadByte();
                return builder.ToString();
            }

            builder.Append((char)b);
        }
    }
}

/// <summary>Debian's redis-server on a free 127.0.0.1 port with a temp dir; AOF on with <c>appendfsync everysec</c>.</summary>
internal sealed class RedisServer : IDisposable
{
    private readonly Process process;

    private RedisServer(Process process, int port, string dir)
    {
        this.process = process;
        Port = port;
        Dir = dir;
    }

    public int Port { get; }

    public string Dir { get; }

    public const string Fsync = "appendonly yes, appendfsync everysec, no RDB snapshots";

    public TimeSpan Cpu
    {
        get
        {
            process.Refresh();
            return process.TotalProcessorTime;
        }
    }

    /// <summary>True when redis-server is on the PATH.</summary>
    public static bool IsInstalled =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(folder => File.Exists(Path.Combine(folder, "redis-server")));

    public static async Task<RedisServer> StartAsync(string dir)
    {
        var port = BrokerProcess.FreePort();
        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList =
            {
                "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", dir,
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", string.Empty, "--daemonize", "no",
                "--protected-mode", "yes", "--logfile", Path.Combine(dir, "redis.log"),
            },
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed (apt-get install -y redis-server)", ex);
        }

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var client = await RespClient.ConnectAsync(port);
                if ((string?)await client.CallAsync("PING") == "PONG")
                {
                    return new RedisServer(process, port, dir);
                }
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit();
        }

        process.Dispose();
    }
}
