namespace Headroom.Core.Access;

public enum Role { Viewer, Member, Admin, Owner, Billing, FleetAdmin }
