"""The Cognito user pool through which people reach the site API, with one group per role."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

# Cognito's pattern for group names, shortened to what a route's x-dmc-groups can name.
GROUP_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
MIN_PASSWORD_LENGTH = 14
# An ID token is what API Gateway's Cognito authorizer checks; it grants access for this long.
TOKEN_VALIDITY = Duration.hours(1)
SESSION_VALIDITY = Duration.hours(12)


class ApiUserPool(Construct):
    """Administrator-created users only (no self sign-up), signing in with e-mail and password plus a TOTP
    second factor (required), passwords of at least 14 characters of every class, recovery by e-mail only,
    and Cognito's threat protection (Plus plan) blocking compromised credentials and risky sign-ins.

    ``groups``: the pool's groups, in order of precedence (the first wins when a user is in several); the
    API's routes allow them by name (``x-dmc-groups``). ``client`` is the app client people's tools sign in
    through (SRP, no secret: it runs where users are); its ID tokens last an hour, its sessions 12 hours.
    ``removal_policy`` (default RETAIN): RETAIN also turns on deletion protection (users and their MFA
    devices are not recreated by a redeploy).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        groups: Sequence[str],
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not groups:
            problems.append("groups is empty; fix: name the roles the API's routes allow, e.g. operator")
        invalid = [group for group in groups if not GROUP_NAME.match(group)]
        if invalid:
            problems.append(
                f"groups {invalid} are not 1-64 characters of a-z 0-9 _ - starting with a letter; fix: rename them"
            )
        if len(set(groups)) != len(groups):
            problems.append(f"groups {list(groups)} name a group twice; fix: list each once")
        if problems:
            raise ValueError(f"ApiUserPool {construct_id}: " + "; ".join(problems))
        self.pool = cognito.UserPool(
            self,
            "Pool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=MIN_PASSWORD_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
        )
        self.groups = {
            group: cognito.CfnUserPoolGroup(
                self,
                f"{group.title().replace('_', '').replace('-', '')}Group",
                user_pool_id=self.pool.user_pool_id,
                group_name=group,
                precedence=precedence,
                description=f"Site API role {group}",
            )
            for precedence, group in enumerate(groups)
        }
        self.client = self.pool.add_client(
            "Client",
            auth_flows=cognito.AuthFlow(user_srp=True),
            # Tools sign in through the SRP flow; no hosted UI, so no OAuth flows or callback URLs.
            disable_o_auth=True,
            generate_secret=False,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=TOKEN_VALIDITY,
            access_token_validity=TOKEN_VALIDITY,
            refresh_token_validity=SESSION_VALIDITY,
        )
