export { createLibvirtDriver, LibvirtDriver, LibvirtSettingsSchema, parseDomState, virshReason, type DomainState, type LibvirtSettings } from './libvirt-driver';
