using Headroom.Store;
using Npgsql;

namespace Headroom.Tests;

/// <summary>
/// A fresh, empty store per test: a SQLite file in a temp directory, or a new database on the
/// throwaway PostgreSQL that the test command starts (TEST_POSTGRES_URL).
/// </summary>
public static class TestDatabases
{
    public static string PostgresUrl =>
        Environment.GetEnvironmentVariable("TEST_POSTGRES_URL") is { Length: > 0 } url
            ? url
            : throw new InvalidOperationException(
                "TEST_POSTGRES_URL is not set. Run the suite with scripts/test.sh, or start a server with " +
                "deploy/postgres/dev-postgres.sh start and export TEST_POSTGRES_URL=<the URL it prints>.");

    public static async Task<StoreConnection> CreateAsync(StoreProvider provider, string directory)
    {
        if (provider == StoreProvider.Sqlite)
            return StoreConnection.SqliteFile(Path.Combine(directory, "headroom.db"));

        var admin = StoreConnection.TryParse(PostgresUrl, out var error) ?? throw new InvalidOperationException(error);
        var name = "t_" + Guid.NewGuid().ToString("N")[..20];
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }
        // Hundreds of test databases share one server: pooled connections a finished test leaves idle are closed within
        // seconds (Npgsql's default keeps them five minutes), and no test server holds more than a few dozen.
        var builder = new NpgsqlConnectionStringBuilder(admin.ConnectionString)
        {
            Database = name, MaxPoolSize = 30, ConnectionIdleLifetime = 2, ConnectionPruningInterval = 1,
        };
        return new StoreConnection(StoreProvider.Postgres, builder.ConnectionString);
    }

    public static TheoryData<StoreProvider> Providers => new() { StoreProvider.Sqlite, StoreProvider.Postgres };
}

public sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "headroom-test-" + Guid.NewGuid().ToString("N")[..12]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
