using Microsoft.AspNetCore.Components;
using Headroom.Server.WebConsole.Pages;
using Microsoft.AspNetCore.Http;

namespace Headroom.Server.WebConsole;

/// <summary>
/// A page of the console, rendered on the server for a signed-in browser. In order: without a valid session cookie
/// the browser is sent to sign in; otherwise <see cref="LoadAsync"/> reads what the page shows from the API, then a
/// posted form's handler runs (Blazor calls it after the first load, so the handler sees the same list the form came
/// from). An API answer of 401 (the key was revoked or expired) ends the session.
/// </summary>
public abstract class ConsolePage : ComponentBase
{
    [CascadingParameter]
    public HttpContext Http { get; set; } = default!;

    [Inject]
    private protected ConsoleApi Api { get; set; } = default!;

    [Inject]
    private protected ConsoleSession Session { get; set; } = default!;

    [Inject]
    protected NavigationManager Navigation { get; set; } = default!;

    private protected Caller Caller { get; private set; } = default!;

    protected CancellationToken Aborted => Http.RequestAborted;

    protected sealed override async Task OnInitializedAsync()
    {
        if (Session.KeyOf(Http) is not { } key)
        {
            Navigation.NavigateTo(SignIn.PathFor(Http.Request.Path + Http.Request.QueryString));
            return;
        }
        Caller = new Caller(key, Http.TraceIdentifier);
        await LoadAsync();
    }

    protected abstract Task LoadAsync();

    protected Task<ApiResult<T>> GetAsync<T>(string path) => Checked(Api.GetAsync<T>(Caller, path, Aborted));

    protected Task<ApiResult<T>> PostAsync<T>(string path, object? body, string? idempotencyKey = null) =>
        Checked(Api.SendAsync<T>(Caller, HttpMethod.Post, path, body ?? new { }, idempotencyKey, Aborted));

    protected Task<ApiResult<T>> SendAsync<T>(HttpMethod method, string path, object? body) =>
        Checked(Api.SendAsync<T>(Caller, method, path, body, null, Aborted));

    /// <summary>Post, redirect, get: after a change the browser reloads the page, so a refresh does not repeat it.</summary>
    protected void Reload(string? notice = null) =>
        Navigation.NavigateTo(Http.Request.Path + Query.With(Http.Request.QueryString.Value, "notice", notice));

    private async Task<ApiResult<T>> Checked<T>(Task<ApiResult<T>> call)
    {
        var result = await call;
        if (result.Problem is { Status: StatusCodes.Status401Unauthorized })
        {
            ConsoleSession.SignOut(Http);
            Navigation.NavigateTo(SignIn.PathFor(Http.Request.Path + Http.Request.QueryString, refused: true));
        }
        return result;
    }
}
