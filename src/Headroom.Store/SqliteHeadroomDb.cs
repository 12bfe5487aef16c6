using Microsoft.EntityFrameworkCore;

namespace Headroom.Store;

public sealed class SqliteHeadroomDb(DbContextOptions<SqliteHeadroomDb> options) : HeadroomDb(options)
{
    public override StoreProvider Provider => StoreProvider.Sqlite;

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite has no timestamp type and cannot compare or order DateTimeOffset text in SQL;
        // microseconds since the Unix epoch as an integer sort and compare exactly, and keep the
        // same precision PostgreSQL's timestamptz keeps.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<UnixMicrosecondsConverter>();
        configurationBuilder.Properties<DateTimeOffset?>().HaveConversion<UnixMicrosecondsConverter>();
    }
}
