using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using SQLitePCL;

namespace Headroom.Store;

/// <summary>
/// Multi-row INSERTs of plain rows (no generated values, no navigation), for the few paths that append thousands of rows a
/// second: model calls' journal records and their ledger entries. Change tracking costs tens of microseconds a row, most
/// of such a path's time and, on SQLite, time spent holding the one write lock. The columns, names and value conversions
/// come from the EF model, so the rows are stored exactly as <c>SaveChanges</c> would store them.
/// </summary>
public static class BulkInsert
{
    /// <summary>Rows per statement on PostgreSQL (one round trip each): well inside its 65,535 parameters for any table here.</summary>
    private const int RowsPerStatement = 100;

    private static readonly ConcurrentDictionary<(IModel, Type), Table> Tables = new();

    /// <summary>Inserts <paramref name="rows"/> on the context's connection, in its current transaction if it has one.</summary>
    /// <exception cref="NotSupportedException">On SQLite, a column whose stored type is not text, integer or real.</exception>
    public static async Task InsertAsync<T>(HeadroomDb db, IReadOnlyList<T> rows, CancellationToken cancellationToken) where T : class
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
            return;
        var table = Tables.GetOrAdd((db.Model, typeof(T)), static (key, db) => Table.Of(db, key.Item2), db);
        var connection = db.Database.GetDbConnection();
        var opened = connection.State != System.Data.ConnectionState.Open;
        if (opened)
            await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            if (connection is SqliteConnection sqlite)
                InsertSqlite(sqlite, table, rows);
            else
                await InsertBatchedAsync(db, table, rows, cancellationToken);
        }
        finally
        {
            if (opened)
                await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>
    /// SQLite runs in process, so a prepared single-row statement run once per row costs no round trips. It is bound through
    /// SQLite's own calls, by position: ADO.NET's parameters looked each one up by name (SQLite compares the name with every
    /// name in the statement) and made a UTF-8 copy of every name and text value, about a fifth of the time and most of the
    /// garbage of moving a model call into the store.
    /// </summary>
    private static void InsertSqlite<T>(SqliteConnection connection, Table table, IReadOnlyList<T> rows) where T : class
    {
        var handle = connection.Handle!;
        SqliteException.ThrowExceptionForRC(raw.sqlite3_prepare_v2(handle, table.PositionalRow, out var statement), handle);
        using (statement)
        {
            byte[]? text = null;
            try
            {
                foreach (var entity in rows)
                {
                    for (var c = 0; c < table.Columns.Count; c++)
                    {
                        var rc = table.Columns[c].ProviderValue(entity) switch
                        {
                            null => raw.sqlite3_bind_null(statement, c + 1),
                            string s => BindText(statement, c + 1, s, ref text),
                            long l => raw.sqlite3_bind_int64(statement, c + 1, l),
                            int i => raw.sqlite3_bind_int64(statement, c + 1, i),
                            bool b => raw.sqlite3_bind_int64(statement, c + 1, b ? 1 : 0),
                            double d => raw.sqlite3_bind_double(statement, c + 1, d),
                            var other => throw new NotSupportedException($"{table.Name}.{table.Columns[c].Name}: no SQLite binding for {other.GetType().Name}."),
                        };
                        SqliteException.ThrowExceptionForRC(rc, handle);
                    }
                    var step = raw.sqlite3_step(statement);
                    raw.sqlite3_reset(statement);
                    if (step != raw.SQLITE_DONE)
                        SqliteException.ThrowExceptionForRC(step, handle);
                }
            }
            finally
            {
                if (text is not null)
                    ArrayPool<byte>.Shared.Return(text);
            }
        }
    }

    /// <summary>Binds <paramref name="value"/> as UTF-8 from a pooled buffer (SQLite copies it), not a new array per value.</summary>
    private static int BindText(sqlite3_stmt statement, int index, string value, ref byte[]? buffer)
    {
        var length = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (buffer is null || buffer.Length < length)
        {
            if (buffer is not null)
                ArrayPool<byte>.Shared.Return(buffer);
            buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1024));
        }
        return raw.sqlite3_bind_text(statement, index, buffer.AsSpan(0, Encoding.UTF8.GetBytes(value, buffer)));
    }

    /// <summary>PostgreSQL: <see cref="RowsPerStatement"/> rows per statement, with EF's own type mappings making the parameters.</summary>
    private static async Task InsertBatchedAsync<T>(HeadroomDb db, Table table, IReadOnlyList<T> rows, CancellationToken cancellationToken) where T : class
    {
        var sql = db.GetService<ISqlGenerationHelper>();
        var connection = db.Database.GetDbConnection();
        var columns = table.Columns;
        System.Data.Common.DbCommand? command = null;
        try
        {
            for (var start = 0; start < rows.Count; start += RowsPerStatement)
            {
                var count = Math.Min(RowsPerStatement, rows.Count - start);
                if (command is null || command.Parameters.Count != count * columns.Count)
                {
                    // A new statement for the first chunk and a shorter last one; the others rerun it with new values.
                    if (command is not null)
                        await command.DisposeAsync();
                    command = connection.CreateCommand();
                    command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
                    var text = new StringBuilder(table.Head);
                    for (var r = 0; r < count; r++)
                    {
                        text.Append(r == 0 ? "(" : ", (");
                        for (var c = 0; c < columns.Count; c++)
                        {
                            var column = columns[c];
                            var name = sql.GenerateParameterName($"p{r}_{c}");
                            text.Append(c == 0 ? "" : ", ").Append(name);
                            command.Parameters.Add(column.Mapping.CreateParameter(command, name, column.Property.GetGetter().GetClrValueUsingContainingEntity(rows[start + r]), column.Property.IsNullable));
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
                            command.Parameters[(r * columns.Count) + c].Value = columns[c].ProviderValue(rows[start + r]) ?? DBNull.Value;
                    }
                }
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
        }
        finally
        {
            if (command is not null)
                await command.DisposeAsync();
        }
    }

    /// <summary>
    /// An entity's table as the EF model maps it: the INSERT up to <c>VALUES</c>, its columns in order, and the INSERT of
    /// one row with positional parameters (<c>?</c>, SQLite's).
    /// </summary>
    private sealed record Table(string Name, string Head, IReadOnlyList<Column> Columns)
    {
        public string PositionalRow { get; } = Head + "(" + string.Join(", ", Enumerable.Repeat("?", Columns.Count)) + ")";

        public static Table Of(HeadroomDb db, Type type)
        {
            var entity = db.Model.FindEntityType(type) ?? throw new InvalidOperationException($"{type.Name} is not in the model.");
            var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
            var columns = entity.GetProperties().Select(p => new Column(p, p.GetColumnName(table)!, p.GetRelationalTypeMapping())).ToList();
            var sql = db.GetService<ISqlGenerationHelper>();
            var head = $"INSERT INTO {sql.DelimitIdentifier(table.Name, table.Schema)} ({string.Join(", ", columns.Select(c => sql.DelimitIdentifier(c.Name)))}) VALUES ";
            return new Table(table.Name, head, columns);
        }
    }

    private sealed record Column(IProperty Property, string Name, RelationalTypeMapping Mapping)
    {
        /// <summary>The value as stored: the property's, through the mapping's converter if it has one.</summary>
        public object? ProviderValue(object entity)
        {
            var value = Property.GetGetter().GetClrValueUsingContainingEntity(entity);
            return Mapping.Converter is { } converter ? converter.ConvertToProvider(value) : value;
        }
    }
}
