package kaasctl

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

const (
	accessLevelPrefix = "urn:vcloud:accessLevel:"
	grantType         = "MembershipAccessControlGrant"
)

var accessLevels = []string{"ReadOnly", "ReadWrite", "FullControl"}

// accessURN turns ReadOnly (any case) or its URN into the URN.
func accessURN(s string) (string, bool) {
	name := strings.TrimPrefix(s, accessLevelPrefix)
	for _, l := range accessLevels {
		if strings.EqualFold(name, l) {
			return accessLevelPrefix + l, true
		}
	}
	return "", false
}

func accessName(urn string) string { return strings.TrimPrefix(urn, accessLevelPrefix) }

// member reports whether an ACL entry is the user given (as a name or a URN), whose URN
// is memberID.
func member(e ACLEntry, user, memberID string) bool {
	return e.MemberID == memberID || e.MemberID == user || (e.Username != "" && strings.EqualFold(e.Username, user))
}

// resolveUser turns a user name into the user's URN through VCD, as CSE's ACL wants URNs.
// When VCD cannot be asked (a VCD that does not let tenants query users), the name is
// passed on for the server to resolve; a user VCD does not know is an error.
func resolveUser(ctx context.Context, c *Client, user string) (string, error) {
	if strings.HasPrefix(user, "urn:") {
		return user, nil
	}
	id, err := c.UserID(ctx, user)
	switch {
	case err != nil:
		return user, nil
	case id == "":
		return "", fmt.Errorf("VCD knows no user %s in your org (give the user's URN if it is elsewhere)", user)
	}
	return id, nil
}

// fullACL is every grant of a cluster's ACL, all pages joined.
func fullACL(ctx context.Context, c *Client, id string) (Reply[Page[ACLEntry]], error) {
	return allPages(ctx, func(ctx context.Context, p int) (Reply[Page[ACLEntry]], error) {
		return c.ClusterACL(ctx, id, p, 128)
	})
}

func (a *app) clusterACLCmd() *cobra.Command {
	var output string
	cmd := a.clusterArgCmd("acl NAME|ID", "List the users a cluster is shared with", func(cmd *cobra.Command, c *Client, id string) error {
		acl, err := fullACL(cmd.Context(), c, id)
		if err != nil {
			return err
		}
		return aclView(acl.Raw, acl.Value.Values).print(cmd.OutOrStdout(), output)
	})
	cmd.Aliases = []string{"share-list"}
	outputFlag(cmd, &output)
	return cmd
}

func (a *app) clusterShareCmd() *cobra.Command {
	var output, user, access string
	cmd := a.clusterArgCmd("share NAME|ID --user USER --access ReadOnly|ReadWrite|FullControl", "Share a cluster with a user of its org",
		func(cmd *cobra.Command, c *Client, id string) error {
			level, _ := accessURN(access)
			memberID, err := resolveUser(cmd.Context(), c, user)
			if err != nil {
				return err
			}
			return a.changeACL(cmd, c, id, output, func(acl []ACLEntry) ([]ACLEntry, error) {
				for i, e := range acl {
					if member(e, user, memberID) {
						acl[i].AccessLevelID = level
						return acl, nil
					}
				}
				e := ACLEntry{MemberID: memberID, AccessLevelID: level, GrantType: grantType}
				if !strings.HasPrefix(user, "urn:") {
					e.Username = user
				}
				return append(acl, e), nil
			})
		})
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if user == "" {
			return usagef("give --user USERNAME (or the user's URN)")
		}
		if _, ok := accessURN(access); !ok {
			return usagef("--access %q: use one of %s", access, strings.Join(accessLevels, ", "))
		}
		return nil
	}
	outputFlag(cmd, &output)
	cmd.Flags().StringVar(&user, "user", "", "user name or URN (urn:vcloud:user:…)")
	cmd.Flags().StringVar(&access, "access", "ReadOnly", "access level: "+strings.Join(accessLevels, ", "))
	_ = cmd.RegisterFlagCompletionFunc("access", cobra.FixedCompletions(accessLevels, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) clusterUnshareCmd() *cobra.Command {
	var output, user string
	cmd := a.clusterArgCmd("unshare NAME|ID --user USER", "Stop sharing a cluster with a user",
		func(cmd *cobra.Command, c *Client, id string) error {
			memberID, err := resolveUser(cmd.Context(), c, user)
			if err != nil {
				memberID = user // an entry may still name the user; else the error below says so
			}
			return a.changeACL(cmd, c, id, output, func(acl []ACLEntry) ([]ACLEntry, error) {
				kept := make([]ACLEntry, 0, len(acl))
				for _, e := range acl {
					if !member(e, user, memberID) {
						kept = append(kept, e)
					}
				}
				if len(kept) == len(acl) {
					return nil, fmt.Errorf("the cluster is not shared with %s", user)
				}
				return kept, nil
			})
		})
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if user == "" {
			return usagef("give --user USERNAME (or the user's URN)")
		}
		return nil
	}
	outputFlag(cmd, &output)
	cmd.Flags().StringVar(&user, "user", "", "user name or URN")
	return cmd
}

// changeACL reads the whole ACL, changes it and PUTs it back (CSE's ACL route replaces the
// list), then shows the ACL as it now is.
func (a *app) changeACL(cmd *cobra.Command, c *Client, id, output string, change func([]ACLEntry) ([]ACLEntry, error)) error {
	ctx := cmd.Context()
	acl, err := fullACL(ctx, c, id)
	if err != nil {
		return err
	}
	next, err := change(acl.Value.Values)
	if err != nil {
		return err
	}
	for i := range next {
		if next[i].GrantType == "" {
			next[i].GrantType = grantType
		}
	}
	if err := c.SetClusterACL(ctx, id, next); err != nil {
		return err
	}
	now, err := fullACL(ctx, c, id)
	if err != nil {
		return err
	}
	return aclView(now.Raw, now.Value.Values).print(cmd.OutOrStdout(), output)
}
