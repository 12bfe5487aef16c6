using System.Data.Common;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace Headroom.Store;

/// <summary>
/// Multi-row INSERTs of plain rows (no generated values, no navigation), for the few paths that append thousands of rows a
/// second: model calls' journal records and their ledger entries. Change tracking costs tens of microseconds a row, most
/// of such a path's time and, on SQLite, time spent holding the one write lock. The columns, names and value conversions
/// come from the EF model, with EF's own type mappings making the parameters, so the rows are stored exactly as
/// <c>SaveChanges</c> would store them.
/// </summary>
public static class BulkInsert
{
    /// <summary>
    /// Rows per statement on PostgreSQL (one round trip each): well inside its 65,535 parameters for any table here. SQLite
    /// runs in process, so there one prepared single-row statement is run for each row: SQLite finds a named parameter by
    /// comparing it with every name in the statement, which made a 100-row statement's binding quadratic.
    /// </summary>
    private const int RowsPerStatement = 100;

    /// <summary>Inserts <paramref name="rows"/> on the context's connection, in its current transaction if it has one.</summary>
    public static async Task InsertAsync<T>(HeadroomDb db, IReadOnlyList<T> rows, CancellationToken cancellationToken) where T : class
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
            return;
        var entity = db.Model.FindEntityType(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not in the model.");
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        var columns = entity.GetProperties().Select(p => (Property: p, Column: p.GetColumnName(table)!, Mapping: p.GetRelationalTypeMapping())).ToList();
        var sql = db.GetService<ISqlGenerationHelper>();
        var head = $"INSERT INTO {sql.DelimitIdentifier(table.Name, table.Schema)} ({string.Join(", ", columns.Select(c => sql.DelimitIdentifier(c.Column)))}) VALUES ";

        var perStatement = db.Provider == StoreProvider.Sqlite ? 1 : RowsPerStatement;
        var connection = db.Database.GetDbConnection();
        var opened = connection.State != System.Data.ConnectionState.Open;
        if (opened)
            await db.Database.OpenConnectionAsync(cancellationToken);
        DbCommand? command = null;
        try
        {
            for (var start = 0; start < rows.Count; start += perStatement)
            {
                var count = Math.Min(perStatement, rows.Count - start);
                if (command is null || command.Parameters.Count != count * columns.Count)
                {
                    // A new statement for the first chunk and a shorter last one; the others rerun it with new values.
                    if (command is not null)
                        await command.DisposeAsync();
                    command = connection.CreateCommand();
                    command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
                    var text = new StringBuilder(head);
                    for (var r = 0; r < count; r++)
                    {
                        text.Append(r == 0 ? "(" : ", (");
                        for (var c = 0; c < columns.Count; c++)
                        {
                            var (property, _, mapping) = columns[c];
                            var name = sql.GenerateParameterName($"p{r}_{c}");
                            text.Append(c == 0 ? "" : ", ").Append(name);
                            command.Parameters.Add(mapping.CreateParameter(command, name, property.GetGetter().GetClrValueUsingContainingEntity(rows[start + r]), property.IsNullable));
                        }
                        text.Append(')');
                    }
                    command.CommandText = text.ToString();
                }
                else
                {
                    for (var r = 0; r < count; r++)
                    {
                        for (var c = 0; c < columns.Count; c++)
                        {
                            var (property, _, mapping) = columns[c];
                            var parameter = command.Parameters[(r * columns.Count) + c];
                            var value = property.GetGetter().GetClrValueUsingContainingEntity(rows[start + r]);
                            parameter.Value = (mapping.Converter is { } converter ? converter.ConvertToProvider(value) : value) ?? DBNull.Value;
                        }
                    }
                }
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
        }
        finally
        {
            if (command is not null)
                await command.DisposeAsync();
            if (opened)
                await db.Database.CloseConnectionAsync();
        }
    }
}
