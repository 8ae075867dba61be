################################################################################
#
# ha-agent
#
################################################################################

# Built from this repository (the parent of the external tree), not downloaded.
HA_AGENT_VERSION = 0.1.0
HA_AGENT_SITE = $(BR2_EXTERNAL_RACKHA_PATH)/..
HA_AGENT_SITE_METHOD = local
HA_AGENT_LICENSE = Apache-2.0
# The package is agent/ in the workspace; the workspace's Cargo.lock pins every crate.
HA_AGENT_SUBDIR = agent
# Build products and the fuzz workspace are not sources of the agent.
HA_AGENT_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /target --exclude /out --exclude /fuzz --exclude /.git --exclude /buildroot-output

# Overflow checks stay on, whatever the environment says: Cargo.toml's release profile asks for
# them, and this makes sure Buildroot's cargo environment cannot turn them off.
HA_AGENT_CARGO_ENV = CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true
HA_AGENT_CARGO_BUILD_OPTS = --bin ha-agent
HA_AGENT_CARGO_INSTALL_OPTS = --bin ha-agent

# A local site has no download step, so Buildroot's cargo download post-processing (which
# vendors the crates) does not run; vendor them here, from Cargo.lock, before the offline build.
# This is the one step that needs crates.io.
define HA_AGENT_CARGO_VENDOR
	if [ ! -d $(@D)/VENDOR ]; then \
		cd $(@D) && mkdir -p .cargo && \
		$(PKG_CARGO_ENV) cargo vendor --locked --manifest-path Cargo.toml VENDOR \
			> .cargo/config.toml; \
	fi
endef
HA_AGENT_PRE_BUILD_HOOKS += HA_AGENT_CARGO_VENDOR

# The operator's man page and bash completion, generated from the agent's command table
# (`make cli-docs`; a unit test keeps packaging/ equal to it).
define HA_AGENT_INSTALL_OPERATOR_DOCS
	$(INSTALL) -D -m 0644 $(@D)/packaging/ha-agent.8 $(TARGET_DIR)/usr/share/man/man8/ha-agent.8
	$(INSTALL) -D -m 0644 $(@D)/packaging/ha-agent.bash-completion \
		$(TARGET_DIR)/usr/share/bash-completion/completions/ha-agent
endef
HA_AGENT_POST_INSTALL_TARGET_HOOKS += HA_AGENT_INSTALL_OPERATOR_DOCS

$(eval $(cargo-package))
