using Microsoft.EntityFrameworkCore;

namespace Headroom.Store;

public sealed class PostgresHeadroomDb(DbContextOptions<PostgresHeadroomDb> options) : HeadroomDb(options)
{
    public override StoreProvider Provider => StoreProvider.Postgres;
}
